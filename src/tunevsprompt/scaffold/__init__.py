"""`tvp init`: a commented suite written from a data file, folder or saved dataset."""
