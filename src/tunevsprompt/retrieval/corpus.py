"""Read a knowledge corpus (a folder of text files or a JSONL of documents), or turn the
task's own examples into documents (for similar-example demonstrations)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tunevsprompt.retrieval.chunking import Document
from tunevsprompt.task.types import Example

TEXT_SUFFIXES = (".md", ".markdown", ".txt")


class CorpusError(ValueError):
    """The corpus cannot be read; says where (file, line) and what to change."""

    def __init__(self, message: str, hint: str | None = None, key: str = "path"):
        super().__init__(message)
        self.hint = hint
        self.key = key
        """The corpus config key the problem is about (path, id_field, text_field)."""


def read_corpus(path: Path, id_field: str = "id", text_field: str = "text") -> list[Document]:
    """Documents of a folder (each .md/.markdown/.txt file, id = its relative path, sorted) or
    of a .jsonl file (id and text from the named keys, the other keys as metadata)."""
    if path.is_dir():
        return _read_folder(path)
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl(path, id_field, text_field)
    raise CorpusError(
        f"{path.name} is neither a folder nor a .jsonl file",
        "give a folder of .md/.txt files or a .jsonl file of documents",
    )


def _read_folder(folder: Path) -> list[Document]:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
    )
    if not files:
        raise CorpusError(
            f"the folder {folder} holds no {', '.join(TEXT_SUFFIXES)} files",
            "put the corpus documents in it as text or markdown files",
        )
    documents = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CorpusError(f"cannot read {file}: {error}", "save it as UTF-8 text") from None
        documents.append(Document(file.relative_to(folder).as_posix(), text))
    return documents


def _read_jsonl(path: Path, id_field: str, text_field: str) -> list[Document]:
    from tunevsprompt.task.records import DataFormatError, read_records

    try:
        rows = read_records(path)
    except (DataFormatError, OSError, UnicodeDecodeError) as error:
        raise CorpusError(f"{path.name}: {error}", "save it as UTF-8 JSONL") from None
    documents: list[Document] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        where = f"{path.name} document {number}"
        for field, key in ((id_field, "id_field"), (text_field, "text_field")):
            if field not in row:
                raise CorpusError(
                    f"{where} has no key {field!r} (its keys: {', '.join(map(str, row))})",
                    f"set corpus.{key} to the key that holds it",
                    key,
                )
        ident = str(row[id_field])
        if ident in seen:
            raise CorpusError(f"{where}: document id {ident!r} appears twice", key="id_field")
        seen.add(ident)
        metadata = {k: v for k, v in row.items() if k not in (id_field, text_field)}
        documents.append(Document(ident, str(row[text_field]), metadata))
    if not documents:
        raise CorpusError(f"{path.name} holds no documents")
    return documents


def documents_from_examples(examples: Sequence[Example]) -> list[Document]:
    """One document per example: its input, with the label (target) as metadata."""
    return [Document(e.id, e.input, {"target": e.target}) for e in examples]
