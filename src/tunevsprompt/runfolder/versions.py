"""The run folder's contract version. Bump ``RESULTS_SCHEMA_VERSION`` when a key of
results.json changes meaning (and say so in CHANGELOG.md); `tvp report` keeps reading the
earlier versions."""

RESULTS_SCHEMA_VERSION = "2.0"
