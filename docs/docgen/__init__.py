"""Generators for the docs site's reference pages (run by docs/hooks.py at build time).

They read the code, never a hand-kept copy of it: the suite file's JSON schema, the results
model's JSON schema, and the click commands."""
