"""mkdocs hooks: the reference pages are generated from the code at build time.

A page asks for a generated section with a line ``<!-- tvp:generated NAME -->`` (NAME one
of ``docgen.references.GENERATORS``) and for a file from the repository root with a line
``<!-- tvp:include FILE -->`` (CHANGELOG.md, CONTRIBUTING.md: their links into docs/ are
rewritten to point at the site's pages). The package is imported from this checkout's src/,
whatever else is installed, so the site documents the code beside it."""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "docs", ROOT / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from docgen.references import GENERATORS  # noqa: E402

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

# A marker is a line of its own (so the syntax can be quoted in a page's text).
MARKER = re.compile(r"^<!--\s*tvp:(generated|include)\s+(\S+)\s*-->[ \t]*$", re.M)
LINK = re.compile(r"(\]\()([^)#\s]+)")
# Root files that are also pages of the site.
ROOT_PAGES = {"CHANGELOG.md": "changelog.md", "CONTRIBUTING.md": "contributing.md"}


def included(name: str, page_uri: str) -> str:
    """A root file's text, its links re-pointed from the repository root to the page."""
    text = (ROOT / name).read_text(encoding="utf-8")
    here = posixpath.dirname(page_uri) or "."

    def relink(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith("mailto:"):
            return match.group(0)
        if target.startswith("docs/"):
            target = target.removeprefix("docs/")
        elif target in ROOT_PAGES:
            target = ROOT_PAGES[target]
        return match.group(1) + posixpath.relpath(target, here)

    return LINK.sub(relink, text)


def expand(markdown: str, page_uri: str) -> str:
    def replace(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if kind == "include":
            return included(name, page_uri)
        if name not in GENERATORS:
            raise ValueError(f"{page_uri}: no generator {name!r} (known: {sorted(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    return expand(markdown, page.file.src_uri)
