"""results.json through the model: validate a dict (from the runner, the decision, or the
file), dump it back exactly as written, and say what is wrong with one that does not fit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunevsprompt.errors import RunError
from tunevsprompt.runfolder.results.run import Results
from tunevsprompt.runfolder.store import write_json_atomic

MAX_SHOWN = 5
"""Problems named in one message; the rest are counted."""


def parse_results(data: object) -> Results:
    """``data`` as a ``Results``; pydantic's ``ValidationError`` when it does not fit."""
    return Results.model_validate(data)


def results_dict(results: Results, like: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object of ``results``: the keys it was given, no default added, so validating
    a dict and dumping it gives the dict back. With ``like``, keys keep that dict's order."""
    dumped = results.model_dump(mode="json", exclude_unset=True)
    return _ordered_like(dumped, like) if like is not None else dumped


def write_results(path: Path, data: Mapping[str, Any]) -> Results:
    """Validate ``data`` and write the model's dump to ``path`` (atomically, in ``data``'s key
    order). A dict that does not fit is a bug in tvp or in an arm's records: RunError."""
    try:
        results = parse_results(data)
    except ValidationError as exc:
        raise RunError(
            f"the results of this run do not fit results.json's schema, so {path} was not "
            f"written ({describe_errors(exc)}); this is a bug in tunevsprompt or in an arm "
            "plugin: please report it"
        ) from exc
    write_json_atomic(path, results_dict(results, like=data))
    return results


def key_path(location: tuple[int | str, ...]) -> str:
    """pydantic's error location as a results.json key path: arms.lora.quality.ci95[0]."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<top level>"


def describe_errors(exc: ValidationError) -> str:
    """Each problem as `key.path: what is wrong (got value)`, the first few of them."""
    shown = []
    for error in exc.errors(include_url=False)[:MAX_SHOWN]:
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] != "missing":
            message += f" (got {_brief(error.get('input'))})"
        shown.append(f"{key_path(tuple(error['loc']))}: {message}")
    more = exc.error_count() - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _brief(value: object) -> str:
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _ordered_like(value: Any, original: Any) -> Any:
    if isinstance(value, dict) and isinstance(original, Mapping):
        keys = [k for k in original if k in value] + [k for k in value if k not in original]
        return {k: _ordered_like(value[k], original.get(k)) for k in keys}
    lists = isinstance(value, list) and isinstance(original, list | tuple)
    if lists and len(value) == len(original):
        return [_ordered_like(v, o) for v, o in zip(value, original, strict=True)]
    return value
