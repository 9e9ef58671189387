"""`tvp export` of an optimized-prompt arm: its winning prompt as a ready-to-use chat prompt,
``prompt.json`` (the messages before the input, with ``{input}`` where the input goes, the
labels and how the arm decided) and ``prompt.txt`` (the same, as plain text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunevsprompt.runfolder.export import ExportError, require_new_folder
from tunevsprompt.runfolder.read import load_results
from tunevsprompt.runfolder.store import write_dir_atomic

PROMPTS_FOLDER = "prompts"


def has_prompt(run_dir: Path, arm: str) -> bool:
    return (run_dir / PROMPTS_FOLDER / f"{arm}.json").is_file()


def export_prompt(run_dir: Path, arm: str, out_dir: Path) -> dict[str, Any]:
    """Write the arm's prompt to ``out_dir`` (atomically); returns what was written."""
    results = load_results(run_dir)
    if arm not in results.arms:
        raise ExportError(
            f"{run_dir}: no arm {arm!r} in results.json (arms: {', '.join(results.arms)})"
        )
    path = run_dir / PROMPTS_FOLDER / f"{arm}.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExportError(
            f"{path} cannot be read ({error}): the run folder is incomplete"
        ) from error
    require_new_folder(out_dir)
    prompt = {
        "run": str(run_dir),
        "arm": arm,
        "messages": saved.get("messages"),
        "input_placeholder": "{input}",
        "retrieved_demonstrations": saved.get("retrieved_demonstrations"),
        "retrieved_passages": saved.get("retrieved_passages"),
        "labels": saved.get("labels"),
        "decide": saved.get("decide"),
        "chosen_on_dev": saved.get("dev"),
    }

    def fill(staging: Path) -> None:
        (staging / "prompt.json").write_text(
            json.dumps(prompt, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (staging / "prompt.txt").write_text(plain_text(prompt), encoding="utf-8")

    write_dir_atomic(out_dir, fill)
    return prompt


def plain_text(prompt: dict[str, Any]) -> str:
    """The messages one after another, each under its role in capitals."""
    parts = [f"{m['role'].upper()}:\n{m['content']}" for m in prompt.get("messages") or []]
    retrieved = prompt.get("retrieved_demonstrations")
    if retrieved:
        note = (
            f"[{retrieved['k']} demonstrations retrieved for each input go before the last "
            f"message: {retrieved['from']}]"
        )
        parts.insert(len(parts) - 1, note)
    passages = prompt.get("retrieved_passages")
    if passages:
        parts.append(f"[{passages['k']} retrieved passages: {passages['from']}]")
    return "\n\n".join(parts) + "\n"
