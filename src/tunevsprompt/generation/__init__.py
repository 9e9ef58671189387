"""The one interface arms use to reach a model, wherever it runs."""

from tunevsprompt.generation.base import DecodingSettings, Generator

__all__ = ["DecodingSettings", "Generator"]
