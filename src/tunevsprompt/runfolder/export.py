"""`tvp export`: a tuned arm of a finished run as a standard Hugging Face model folder (LoRA
merged into the base weights, tokenizer and chat template beside them), the folder
`transformers serve`, vLLM and `from_pretrained` load as they are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunevsprompt.runfolder.read import RunFolderError, load_results

EXPORT_RECORD = "tvp_export.json"
"""Where the exported folder says what it came from (run, arm, adapter hash, base model)."""


class ExportError(RunFolderError):
    """The arm cannot be exported (exit 2)."""


def require_new_folder(out_dir: Path) -> None:
    """Exports never write into a folder that already holds something."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} exists and is not empty: choose a new folder")


@dataclass(frozen=True)
class ExportSource:
    """What to merge: the adapter folder and the base model it was trained on."""

    arm: str
    adapter_dir: Path
    adapter_sha256: str
    model: dict[str, Any]
    """The suite's `model:` block as the run recorded it (id, gguf_file, revision, dtype)."""


def export_source(run_dir: Path, arm: str) -> ExportSource:
    """The run's record of ``arm``, checked: a LoRA adapter whose weights match their hash."""
    from tunevsprompt.generation.model_source import file_sha256
    from tunevsprompt.training.adapter_cache import ADAPTER_WEIGHTS

    results = load_results(run_dir)
    arms = results.arms
    if arm not in arms:
        raise ExportError(f"{run_dir}: no arm {arm!r} in results.json (arms: {', '.join(arms)})")
    adapter = arms[arm].adapter
    if adapter is None:
        raise ExportError(
            f"arm {arm!r} ({arms[arm].type}) trained nothing: only a tuned arm (lora, "
            "encoder-finetune, setfit) or an optimized-prompt arm can be exported; prompting "
            "arms serve the base model as it is"
        )
    if adapter.method != "lora":
        raise ExportError(
            f"arm {arm!r} is a {adapter.method} adapter: a soft prompt is not part of "
            "the weights, so it cannot be merged; load it with peft "
            f"(PeftModel.from_pretrained(base, {run_dir / str(adapter.path)}))"
        )
    if adapter.path is None or adapter.sha256 is None:
        raise ExportError(f"{run_dir}: results.json records no path or sha256 for {arm}'s adapter")
    adapter_dir = run_dir / adapter.path
    weights = adapter_dir / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise ExportError(f"{weights} is missing: the run folder is incomplete")
    if file_sha256(weights) != adapter.sha256:
        raise ExportError(f"{weights} does not match the sha256 results.json records for it")
    manifest = results.manifest
    loaded = manifest.model if manifest else None
    spec = manifest.model_spec if manifest else None
    model = dict(spec or {"id": loaded.id if loaded else None})
    if not model.get("id"):
        raise ExportError(f"{run_dir}: results.json does not name the base model")
    return ExportSource(arm, adapter_dir, adapter.sha256, model)


def export_arm(run_dir: Path, arm: str, out_dir: Path, dtype: str = "auto") -> dict[str, Any]:
    """Merge the arm's LoRA adapter into a fresh copy of its base model and write the folder
    atomically. Returns the provenance record written beside the weights."""
    from peft import PeftModel

    from tunevsprompt.generation.hf import load_generator
    from tunevsprompt.generation.model_source import ModelSpec
    from tunevsprompt.runfolder.store import write_dir_atomic

    source = export_source(run_dir, arm)
    model = source.model
    require_new_folder(out_dir)
    spec = ModelSpec(
        str(model["id"]),
        model.get("gguf_file"),
        model.get("revision"),
        "cpu",
        dtype if dtype != "auto" else str(model.get("dtype") or "auto"),
    )
    base = load_generator(spec)
    merged = PeftModel.from_pretrained(base.model, str(source.adapter_dir)).merge_and_unload()
    record = {
        "run": str(run_dir),
        "arm": arm,
        "adapter_sha256": source.adapter_sha256,
        "base_model": model,
        "dtype": str(merged.dtype).removeprefix("torch."),
        "merged": True,
    }

    def fill(staging: Path) -> None:
        merged.save_pretrained(staging, safe_serialization=True)
        base.tokenizer.save_pretrained(staging)
        (staging / EXPORT_RECORD).write_text(json.dumps(record, indent=2) + "\n")

    write_dir_atomic(out_dir, fill)
    return record
