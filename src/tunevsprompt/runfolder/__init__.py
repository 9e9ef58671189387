"""The run folder: reading and writing it (atomic files, caches), the manifest, and
exporting a tuned arm as a model folder."""
