"""tunevsprompt: prompt it, retrieve for it, or fine-tune it? Measure, then decide."""

__version__ = "0.1.0"
