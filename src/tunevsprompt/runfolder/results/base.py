"""What every record of results.json is built from: the two kinds of record (tvp's own,
whose unknown keys are errors, and the ones arms extend, whose extra keys are kept), and the
number types. Numbers keep the type they were written with (an int stays an int), so a
results.json read and written again is the same file."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError


class Record(BaseModel):
    """A record tvp writes itself: a key it does not know is an error (a file written by
    another tool, or by a newer tvp)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class OpenRecord(BaseModel):
    """A record that arms (built-in or plugin) extend: the keys listed are typed, and any
    other key an arm adds is kept as written."""

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())


def _number(value: Any) -> Any:
    """An int or a float, as written: never a bool, never a string that looks like a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number_type", "should be a number")
    return value


def _as_written(value: Any) -> Any:
    return value


Num = Annotated[
    float,
    PlainValidator(_number),
    PlainSerializer(_as_written),
    WithJsonSchema({"type": "number"}),
]
"""A JSON number (int or float, kept as written)."""


def _number_or_text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number_or_text_type", "should be a number or a text (5%)")
    return value


NumOrText = Annotated[
    float | str,
    PlainValidator(_number_or_text),
    PlainSerializer(_as_written),
    WithJsonSchema({"type": ["number", "string"]}),
]
"""A number, or a text such as `5%` (a margin)."""

Count = StrictInt
"""A whole number (a count, a step, a seed)."""

Flag = StrictBool
"""true or false."""

Interval = Annotated[list[Num], Field(min_length=2, max_length=2)]
"""[low, high]: a 95% interval."""

OpenInterval = Annotated[list[Num | None], Field(min_length=2, max_length=2)]
"""[low, high], where a side is null when the sample cannot bound it."""
