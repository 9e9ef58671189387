"""The one interface arms use to reach a model, wherever it runs."""

from tunevsprompt.generation.base import DecodingSettings, Generator
from tunevsprompt.generation.errors import GeneratorError
from tunevsprompt.generation.model_source import ModelSpec

__all__ = ["DecodingSettings", "Generator", "GeneratorError", "ModelSpec"]
