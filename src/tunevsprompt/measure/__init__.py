"""Measuring: metrics, each arm's quality figures and the paired comparisons, latency,
integrity and contamination checks, and the statistics behind every interval."""
