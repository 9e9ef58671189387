"""Rows of one data file (.jsonl/.json, .csv, .parquet, a `datasets` save_to_disk folder),
read so that a careless or hostile file fails with its row and line instead of a traceback:
bytes that are not UTF-8, ragged CSV rows, repeated column names, very long fields and deep
JSON are named; nothing waits forever on a file that never ends (``read_with_timeout``);
and rows whose input or target is absent, blank, null, NaN, nested or holds a NUL byte are
counted with their lines (``unusable_rows``)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

MAX_FIELD_CHARS = 16 * 1024 * 1024
"""The longest CSV field read (Python's csv stops at 128 KiB by default); a field this long is
almost always an unclosed quote swallowing the rest of the file."""

READ_TIMEOUT_S = 600.0
"""How long reading one data file may take before the run gives up (a stalled network
mount); the environment variable TVP_READ_TIMEOUT_S changes it."""

T = TypeVar("T")


class DataFormatError(ValueError):
    """The file cannot be read as rows; the message names the row or line."""


@dataclass(frozen=True)
class Records:
    """A file's rows, and where each row starts in the file (for messages)."""

    rows: list[dict[str, Any]]
    lines: list[int] | None = None
    """The 1-based line each row starts on (CSV and JSON lines), else None."""

    def where(self, index: int) -> str:
        """Row ``index`` (0-based) as a message names it: "row 31 (line 32)"."""
        line = f" (line {self.lines[index]})" if self.lines else ""
        return f"row {index + 1}{line}"


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl/.json, .csv, .parquet file or a `datasets` save_to_disk folder."""
    return read_rows(path).rows


def read_rows(path: Path) -> Records:
    """``read_records`` with each row's line (for messages that point at it)."""
    if path.is_dir():
        return Records(_read_saved_dataset(path))
    if not path.is_file():
        raise DataFormatError("not a regular file (a FIFO, socket or device)")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _read_json(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return Records(pq.read_table(path).to_pylist())
    raise DataFormatError(
        f"unsupported file type {suffix!r}; use .jsonl, .json, .csv, .parquet or a "
        "datasets save_to_disk folder"
    )


def read_timeout_s() -> float:
    """TVP_READ_TIMEOUT_S, or ``READ_TIMEOUT_S``: seconds above 0 (at most what a thread
    join can wait)."""
    raw = os.environ.get("TVP_READ_TIMEOUT_S")
    if raw is None:
        return READ_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:
        raise DataFormatError(
            f"TVP_READ_TIMEOUT_S={raw!r} is not a number of seconds above 0: unset it (600 s) "
            "or give one such as 1800"
        )
    return min(seconds, threading.TIMEOUT_MAX)


def missing(value: Any) -> bool:
    """No value: absent, null, NaN, or blank text."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _value_problem(value: Any, blank_ok: bool) -> str | None:
    """Why a value cannot be an input or a target (a phrase with ``{field}`` in it), or None.
    ``blank_ok``: an empty string is a value (a generation task's reference for "no
    answer")."""
    if isinstance(value, str) and blank_ok and not value.strip():
        return None
    if missing(value):
        return "have an empty, null or NaN {field}"
    if isinstance(value, dict | list):
        return f"hold a {'list' if isinstance(value, list) else 'JSON object'} in {{field}}"
    if "\0" in str(value):
        return "have a NUL byte in {field}"
    return None


def unusable_rows(
    records: Records, fields: dict[str, str], blank_target_ok: bool
) -> list[tuple[str, str]]:
    """Rows whose input or target is absent or unusable, as (key of ``fields``, message),
    one per field and problem, naming at most five rows. ``fields`` maps input_field and
    target_field to column names."""
    found: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(records.rows):
        for key, name in fields.items():
            blank_ok = key == "target_field" and blank_target_ok
            problem = (
                "have no {field} field" if name not in row else _value_problem(row[name], blank_ok)
            )
            if problem is not None:
                found[(key, problem)].append(index)
    out = []
    for (key, problem), rows in found.items():
        shown = ", ".join(records.where(i) for i in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        message = problem.format(field=repr(fields[key]))
        out.append((key, f"{len(rows)} of {len(records.rows)} rows {message} ({shown}{more})"))
    return out


def read_with_timeout(read: Callable[[], T], seconds: float | None = None) -> T:
    """``read()``, or TimeoutError after ``seconds`` (default ``read_timeout_s()``; the
    stalled read is left behind in a daemon thread, which cannot keep the process alive)."""
    seconds = read_timeout_s() if seconds is None else seconds
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, read()))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append((False, exc))

    worker = threading.Thread(target=target, daemon=True, name="tvp-read")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(
            f"reading took more than {seconds:.0f} s (set TVP_READ_TIMEOUT_S to wait longer)"
        )
    done, value = outcome[0]
    if not done:
        raise value
    result: T = value
    return result


def _text(path: Path) -> str:
    """The file as UTF-8 text (a byte-order mark dropped); a byte that is not UTF-8 is named
    with its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataFormatError(
            f"line {line} is not UTF-8 text (byte {exc.start}: {exc.reason}): save the file "
            "as UTF-8"
        ) from None


def _fields(count: int) -> str:
    return f"{count} field{'' if count == 1 else 's'}"


def _read_csv(path: Path) -> Records:
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return Records([], [])
        if not any(name.strip() for name in header):
            raise DataFormatError("line 1 is blank: the first line must name the columns")
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise DataFormatError(
                f"the header names column {repeated[0]!r} twice: rename one of them"
            )
        start = reader.line_num + 1
        for values in reader:
            if values and len(values) != len(header):
                spans = reader.line_num > start
                raise DataFormatError(
                    f"row {len(rows) + 1} (line {start}) has {_fields(len(values))} where "
                    f"the header has {len(header)}: "
                    + (
                        f'it runs on to line {reader.line_num}, so a quote (") is probably '
                        "not closed"
                        if spans
                        else "a missing or extra separator, or an unquoted comma"
                    )
                )
            if values:
                rows.append(dict(zip(header, values, strict=True)))
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataFormatError(
            f"line {reader.line_num}: {exc} (a field over {MAX_FIELD_CHARS // 2**20} MiB is "
            "usually an unclosed quote)"
        ) from None
    return Records(rows, lines)


def _read_json(path: Path) -> Records:
    text = _text(path)
    try:
        if text.lstrip().startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"line {exc.lineno} is not valid JSON: {exc.msg}") from None
            if not all(isinstance(r, dict) for r in rows):
                raise DataFormatError("a .json file must hold a list of objects")
            return Records(list(rows))
        rows, lines = [], []
        # Lines end at "\n" only: U+2028 and other separators str.splitlines() knows may
        # stand unescaped inside a JSON string.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"line {number} is not valid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise DataFormatError(f"line {number} is not a JSON object")
            rows.append(row)
            lines.append(number)
        return Records(rows, lines)
    except RecursionError:
        raise DataFormatError("JSON nested too deeply to read") from None


def _read_saved_dataset(path: Path) -> list[dict[str, Any]]:
    from datasets import Dataset, load_from_disk

    loaded = load_from_disk(str(path))
    if not isinstance(loaded, Dataset):
        raise DataFormatError(
            "this folder holds several splits (a DatasetDict): name it in task.data.dataset instead"
        )
    return list(loaded.to_list())
