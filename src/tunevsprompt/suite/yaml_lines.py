"""Where each key of a YAML file sits: line numbers by key path, the key path as written in
messages, and did-you-mean suggestions; and which pydantic model sits at a key path. (The
file is read by ``yaml_reading``.)"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel

KeyPath = tuple[str | int, ...]


def format_key_path(loc: KeyPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def index_lines(node: yaml.Node, loc: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*loc, str(key_node.value))
                lines[child] = key_node.start_mark.line + 1
                index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index_lines(item, (*loc, i), lines)


def line_for(lines: dict[KeyPath, int], loc: KeyPath) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def did_you_mean(word: str, options: list[str]) -> str | None:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def model_at(model: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """The pydantic model that owns the keys at ``loc`` (for did-you-mean on unknown keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = inner_model(arg)
            if found is not None:
                return found
    return None
