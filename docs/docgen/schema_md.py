"""A pydantic JSON schema rendered as markdown: one section per model, one table row per key.

Generic over any schema ``BaseModel.model_json_schema()`` produces (``$defs`` and ``$ref``,
``anyOf``/``oneOf``/``allOf``, ``const``, ``enum``, arrays, tuples, maps, bounds), so the suite
file and the run folder are documented by the same code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]

_BOUNDS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("minItems", "{} or more items"),
    ("maxItems", "{} items at most"),
    ("pattern", "matches `{}`"),
)


def _def_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


_CODE_SPAN = re.compile(r"(`+)(?:.+?)\1", re.S)
_SPECIAL = re.compile(r"([|*_\\])")


def escape(text: str) -> str:
    """Plain text (a description, a help text) shown as written: markdown's emphasis, table
    and HTML characters escaped, except inside the `code spans` the text already has."""
    out: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def cell(text: str) -> str:
    """Plain text made safe for one markdown table cell: one line, escaped."""
    return escape(one_line(text))


def code(value: str) -> str:
    """An inline code span that survives backticks inside the value."""
    fence = "``" if "`" in value else "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def literal(value: Any) -> str:
    return code(json.dumps(value, ensure_ascii=False))


@dataclass
class SchemaDoc:
    """Renders one schema. ``anchor_prefix`` keeps two schemas' anchors apart on a site."""

    schema: Schema
    anchor_prefix: str
    root_name: str = ""
    _order: list[str] = field(default_factory=list)
    _paths: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.defs: dict[str, Schema] = dict(self.schema.get("$defs", {}))
        self.root: Schema = self.schema
        if "$ref" in self.schema and "properties" not in self.schema:
            # A model that refers to itself: pydantic puts the root in $defs too.
            self.root_name = self.root_name or _def_name(self.schema["$ref"])
            self.root = self.defs[_def_name(self.schema["$ref"])]
        self.root_name = self.root_name or str(self.schema.get("title", "root"))
        self._walk(self.root_name, self.root, "")

    # -- discovery: which models exist, in reading order, and where each one is used --------

    def _walk(self, name: str, model: Schema, path: str) -> None:
        self._paths.setdefault(name, [])
        if path and path not in self._paths[name]:
            self._paths[name].append(path)
        if name in self._order:
            return
        self._order.append(name)
        for key, prop in model.get("properties", {}).items():
            self._walk_type(prop, f"{path}.{key}" if path else key)
        extra = model.get("additionalProperties")
        if isinstance(extra, dict):
            self._walk_type(extra, f"{path}{{}}")

    def _walk_type(self, node: Schema, path: str) -> None:
        if "$ref" in node:
            name = _def_name(node["$ref"])
            target = self.defs.get(name, {})
            self._walk(name, target, path + self._tag(target))
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                self._walk_type(option, path)
        if isinstance(node.get("items"), dict):
            self._walk_type(node["items"], f"{path}[]")
        for item in node.get("prefixItems", []):
            self._walk_type(item, f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            self._walk_type(node["additionalProperties"], f"{path}{{}}")

    @staticmethod
    def _tag_key(model: Schema) -> str | None:
        """The constant key that tells a model apart from its siblings (an arm's ``type``)."""
        for key, prop in model.get("properties", {}).items():
            if "const" in prop:
                return str(key)
        return None

    def _tag(self, model: Schema) -> str:
        key = self._tag_key(model)
        return f" ({key}: {model['properties'][key]['const']})" if key else ""

    # -- rendering ------------------------------------------------------------------------

    def anchor(self, name: str) -> str:
        """An HTML id for a section: lower case, anything but letters and digits a hyphen."""
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        return f"{self.anchor_prefix}-{slug}"

    def link(self, name: str) -> str:
        return f"[{name}](#{self.anchor(name)})"

    def type_of(self, node: Schema) -> str:
        if "$ref" in node:
            return self.link(_def_name(node["$ref"]))
        if "const" in node:
            return literal(node["const"])
        if "enum" in node:
            return " or ".join(literal(value) for value in node["enum"])
        for key in ("anyOf", "oneOf"):
            if key in node:
                options = [self.type_of(option) for option in node[key]]
                return " or ".join(dict.fromkeys(options))
        if "allOf" in node:
            return " and ".join(self.type_of(option) for option in node["allOf"])
        kind = node.get("type")
        if isinstance(kind, list):
            return " or ".join(self.type_of({**node, "type": one}) for one in kind)
        if kind == "array":
            if "prefixItems" in node:
                return "[" + ", ".join(self.type_of(item) for item in node["prefixItems"]) + "]"
            items = node.get("items")
            return f"list of {self.type_of(items)}" if isinstance(items, dict) else "list"
        if kind == "object":
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                return f"map of string to {self.type_of(extra)}"
            return "object"
        if kind is None:
            return "any"
        text = str(kind)
        return f"{text} ({node['format']})" if "format" in node else text

    def bounds(self, node: Schema) -> list[str]:
        tuple_ = "prefixItems" in node  # its length is in its type already
        found = [
            text.format(node[key])
            for key, text in _BOUNDS
            if key in node and not (tuple_ and key.endswith("Items"))
        ]
        for key in ("anyOf", "oneOf"):
            for option in node.get(key, []):
                found += self.bounds(option)
        return found

    def refs(self, node: Schema) -> list[str]:
        """The models a key's type names, directly or as one of its options."""
        if "$ref" in node:
            return [_def_name(node["$ref"])]
        return [
            name for key in ("anyOf", "oneOf") for o in node.get(key, []) for name in self.refs(o)
        ]

    def row(self, key: str, prop: Schema, required: bool) -> str:
        kind = self.type_of(prop)
        limits = self.bounds(prop)
        if limits:
            kind += "; " + ", ".join(limits)
        refs = self.refs(prop)
        if required:
            default = "required"
        elif "default" in prop:
            default = literal(prop["default"])
        elif refs:
            default = "its keys' defaults"
        else:
            default = "optional"
        description = prop.get("description", "")
        if not description and len(refs) == 1:
            description = str(self.defs.get(refs[0], {}).get("description", ""))
        if prop.get("deprecated"):
            description = f"Deprecated. {description}"
        return f"| {code(key)} | {one_line(kind)} | {one_line(default)} | {cell(description)} |"

    def section(self, name: str, level: int) -> str:
        model = self.root if name == self.root_name else self.defs.get(name, {})
        lines = [f"{'#' * level} {name} {{#{self.anchor(name)}}}", ""]
        paths = self._paths.get(name, [])
        if paths:
            lines += ["At " + ", ".join(code(path) for path in paths) + ".", ""]
        if model.get("description"):
            lines += [escape(str(model["description"]).strip()), ""]
        properties: dict[str, Schema] = model.get("properties", {})
        required = set(model.get("required", []))
        tag = self._tag_key(model)
        if tag and name != self.root_name:
            required.add(tag)
        if properties:
            lines += ["| key | type | default | description |", "|---|---|---|---|"]
            lines += [self.row(key, prop, key in required) for key, prop in properties.items()]
            lines.append("")
        extra = model.get("additionalProperties")
        if extra is False:
            lines += ["Other keys are rejected.", ""]
        elif isinstance(extra, dict):
            lines += [f"Any other key maps to {self.type_of(extra)}.", ""]
        if not properties and model.get("type") != "object":
            lines += [f"Value: {self.type_of(model)}.", ""]
        return "\n".join(lines)

    def render(self, level: int = 2) -> str:
        """Every model reachable from the root, the root first, then in reading order."""
        names = self._order + [name for name in self.defs if name not in self._order]
        return "\n".join(self.section(name, level) for name in names)


def schema_markdown(schema: Schema, anchor_prefix: str, level: int = 2) -> str:
    return SchemaDoc(schema, anchor_prefix).render(level)
