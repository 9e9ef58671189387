"""`tvp export` of a fine-tuned encoder arm (encoder-finetune, setfit): the model the run
folder holds, checked against its recorded hash, copied as it is. It is a
sentence-transformers folder whose last module is the classification head, so
``SentenceTransformer(folder).encode(texts)`` gives one score per label, in the order of
``labels.json``; the highest score is the arm's answer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tunevsprompt.runfolder.export import EXPORT_RECORD, ExportError, require_new_folder
from tunevsprompt.runfolder.read import load_results
from tunevsprompt.runfolder.store import write_dir_atomic

ENCODER_FORMAT = "sentence-transformers"


def has_encoder(run_dir: Path, arm: str) -> bool:
    """The run recorded ``arm`` as a fine-tuned encoder."""
    record = load_results(run_dir).arms.get(arm)
    adapter = record.adapter if record is not None else None
    return adapter is not None and adapter.format == ENCODER_FORMAT


def export_encoder(run_dir: Path, arm: str, out_dir: Path) -> dict[str, Any]:
    """Copy the arm's model folder to ``out_dir`` (atomically) after checking its weights'
    hash; returns the provenance record written beside it."""
    from tunevsprompt.arms.encoder.model import WEIGHTS_FILE, model_sha256

    adapter = load_results(run_dir).arms[arm].adapter
    assert adapter is not None
    if adapter.path is None or adapter.sha256 is None:
        raise ExportError(f"{run_dir}: results.json records no path or sha256 for {arm}'s model")
    source = run_dir / adapter.path
    if not (source / WEIGHTS_FILE).is_file():
        raise ExportError(f"{source / WEIGHTS_FILE} is missing: the run folder is incomplete")
    if model_sha256(source) != adapter.sha256:
        raise ExportError(
            f"{source} does not match the sha256 results.json records for it (a file of the "
            "model, its head or its tokenizer changed since the run)"
        )
    require_new_folder(out_dir)
    record = {
        "run": str(run_dir),
        "arm": arm,
        "method": adapter.method,
        "format": ENCODER_FORMAT,
        "sha256": adapter.sha256,
        "scores": "SentenceTransformer(folder).encode(texts): one score per label of labels.json",
    }

    def fill(staging: Path) -> None:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        (staging / EXPORT_RECORD).write_text(json.dumps(record, indent=2) + "\n")

    write_dir_atomic(out_dir, fill)
    return record
