"""The docs' generated references cover the code they are generated from (every suite key,
every command option, every results key once the results model exists), and the links of the
files that live outside the site (README, CONTRIBUTING, CHANGELOG) point at files that exist.
`make docs` builds the site itself (`mkdocs build --strict`)."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import click
import pytest
from pydantic import BaseModel, ConfigDict, Field

from docgen import references
from docgen.cli_md import cli_markdown
from docgen.schema_md import schema_markdown
from hooks import expand
from tunevsprompt.cli import main
from tunevsprompt.suite.schema import suite_json_schema

ROOT = Path(__file__).resolve().parents[1]


def sections(markdown: str) -> dict[str, str]:
    """Rendered markdown split at its `## Title {#anchor}` headings, by anchor."""
    parts = re.split(r"^## .* \{#([^}]+)\}$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_suite_reference_has_every_key_of_every_model() -> None:
    schema = suite_json_schema()
    rendered = sections(references.suite_reference())
    models = {"Suite": schema, **schema["$defs"]}
    for name, model in models.items():
        section = rendered[f"suite-{name.lower()}"]
        for key in model.get("properties", {}):
            assert f"| `{key}` |" in section, f"{name}.{key} missing from the suite reference"
    assert "embed-knn" in rendered["suite-embedknnconfig"]
    assert "[TaskConfig](#suite-taskconfig)" in rendered["suite-suite"]


def test_cli_reference_has_every_option_of_every_command() -> None:
    rendered = sections(references.cli_reference())
    assert set(rendered) == {"tvp", *(f"tvp-{name}" for name in main.commands)}
    for name, command in main.commands.items():
        section = rendered[f"tvp-{name}"]
        for param in command.params:
            for opt in param.opts:
                shown = opt.upper() if isinstance(param, click.Argument) else opt
                assert shown in section, f"tvp {name}: {opt} missing from the CLI reference"
    # The hand-kept synopsis had lost these; the generated one cannot.
    for option in ("--no-gate", "--executor", "--ray-address", "-h, --help"):
        assert option in rendered["tvp-compare"]
    assert "`--executor [local|ray]`" in rendered["tvp-compare"]
    assert "[default: local]" in rendered["tvp-compare"]


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


class Leaf(BaseModel):
    """A leaf: reached through a list and through a map."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["leaf"] = "leaf"
    ci95: tuple[float, float] | None = Field(None, description="Interval | with a pipe.")


class Node(BaseModel):
    """A node of a tree: it refers to itself."""

    name: str = Field(pattern=r"^[a-z|]+$", description="A <name> with *stars* and `a|b`.")
    colour: Colour = Colour.RED
    children: list[Node] = Field(default_factory=list, description="Subtrees.")
    leaves: dict[str, Leaf] = Field(default_factory=dict)
    first: Leaf | None = None
    size: int = Field(1, ge=1, lt=10)
    anything: Any = None


def test_schema_renderer_on_every_shape() -> None:
    rendered = schema_markdown(Node.model_json_schema(), "t")
    parts = sections(rendered)
    assert list(parts) == ["t-node", "t-colour", "t-leaf"]
    node = parts["t-node"]
    assert "| `name` | string; matches `^[a-z|]+$` | required |" in node
    assert r"A &lt;name&gt; with \*stars\* and `a|b`." in node
    assert "| `children` | list of [Node](#t-node) | optional | Subtrees. |" in node
    assert "| `leaves` | map of string to [Leaf](#t-leaf) | optional |" in node
    assert "| `first` | [Leaf](#t-leaf) or null | `null` | A leaf:" in node
    assert "| `size` | integer; ≥ 1, < 10 | `1` |" in node
    assert '| `colour` | [Colour](#t-colour) | `"red"` |' in node
    assert "| `anything` | any | `null` |" in node
    assert 'Value: `"red"` or `"blue"`.' in parts["t-colour"]
    leaf = parts["t-leaf"]
    assert "At `leaves{} (kind: leaf)`, `first (kind: leaf)`." in leaf
    assert r"| `ci95` | [number, number] or null | `null` | Interval \| with a pipe. |" in leaf
    assert "Other keys are rejected." in leaf


def test_results_reference_is_generated_from_the_results_model() -> None:
    page = references.results_reference()
    assert page.startswith("## tunevsprompt results.json (schema_version ")
    assert "{#results-tunevsprompt-results-json-schema-version-" in page  # a valid id
    assert "| `schema_version` | string | required |" in page
    assert "| `arms` | map of string to [ArmRecord](#results-armrecord) | required |" in page
    assert "## ArmRecord {#results-armrecord}" in page


def test_cli_markdown_of_a_nested_group() -> None:
    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    def top() -> None:
        """Top.

        \b
        kept   as
        written
        """

    @top.group()
    def sub() -> None:
        """A subgroup."""

    @sub.command()
    @click.argument("paths", nargs=-1)
    @click.option("--mode", type=click.Choice(["a", "b"]), default="a", show_default=True)
    def leaf(paths: tuple[str, ...], mode: str) -> None:
        """Leaf <command>."""

    parts = sections(cli_markdown(top, "top"))
    assert list(parts) == ["top", "top-sub", "top-sub-leaf"]
    assert "```\nkept   as\nwritten\n```" in parts["top"]
    assert "top sub leaf [OPTIONS] [PATHS]..." in parts["top-sub-leaf"]
    assert "Leaf &lt;command&gt;." in parts["top-sub-leaf"]
    assert "| `--mode [a|b]` | [default: a] |" in parts["top-sub-leaf"]
    assert "| `-h, --help` |" in parts["top-sub-leaf"]


def test_included_root_files_link_into_the_site() -> None:
    text = expand("<!-- tvp:include CONTRIBUTING.md -->\n", "contributing.md")
    assert "](decision.md)" in text and "](changelog.md)" in text
    assert "](docs/" not in text
    quoted = "Write `<!-- tvp:generated NAME -->` on a line of its own."
    assert expand(quoted, "x.md") == quoted


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_links_outside_the_site_point_at_files(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, f"{name} links nowhere"
    for target in local:
        assert (ROOT / target).exists(), f"{name} links to {target}, which does not exist"
