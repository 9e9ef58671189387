"""Reports are rendered from results.json alone: the run folder is the only interface."""
