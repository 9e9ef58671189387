"""The `optimized-prompt` arm: instruction, label-description and demonstration search on
dev (``config``, ``candidate``, ``proposer``, ``halving``, ``search``, ``state``,
``rendering``, ``arm``)."""
