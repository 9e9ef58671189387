"""Time before time is spent: what a run will do, and how long it should take here."""
