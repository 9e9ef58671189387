"""Trained adapters outside the run folder, by training key: the content hash of everything
that decides the trained weights. A rerun, another run folder or a sweep's winning trial
reuses an adapter whose key matches instead of training again; an interrupted training
resumes from its checkpoint there. The run folder gets a copy (``publish``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunevsprompt.generation.model_source import file_sha256
from tunevsprompt.runfolder.store import content_key, write_dir_atomic, write_json_atomic
from tunevsprompt.training.batches import EncodedExample

TRAINING_FORMAT = 1
"""Bump when a change to training would make cached adapters differ from fresh ones."""

ADAPTER_WEIGHTS = "adapter_model.safetensors"
TRAINING_RECORD = "training.json"


def training_key(
    method: str,
    identity: Mapping[str, Any],
    seed: int,
    train: Sequence[EncodedExample],
    dev: Sequence[EncodedExample],
    model_fingerprint: str,
    device: str,
) -> str:
    """Content hash of everything that decides the trained weights. The token ids cover the
    data, the prompt format and the tokenizer."""

    def digest(examples: Sequence[EncodedExample]) -> str:
        rows = [[e.id, list(e.prompt_ids), list(e.answer_ids)] for e in examples]
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()

    return content_key(
        {
            "format": TRAINING_FORMAT,
            "method": method,
            "config": dict(identity),
            "seed": seed,
            "train": digest(train),
            "dev": digest(dev),
            "model": model_fingerprint,
            "device": device.split(":")[0],
        }
    )[:24]


@dataclass(frozen=True)
class AdapterCache:
    """One training key's folder: ``final/`` (the adapter in peft's format and its training
    record) and ``checkpoint.pt`` (an unfinished training)."""

    work: Path

    @classmethod
    def under(cls, root: Path, key: str) -> AdapterCache:
        return cls(root / "training" / key)

    @property
    def final(self) -> Path:
        return self.work / "final"

    @property
    def checkpoint(self) -> Path:
        return self.work / "checkpoint.pt"

    def finished(self) -> bool:
        """A complete adapter with its record is there."""
        return (self.final / TRAINING_RECORD).exists() and (self.final / ADAPTER_WEIGHTS).exists()

    def load(self, base_model: Any) -> tuple[Any, dict[str, Any]]:
        """The finished adapter on ``base_model``, and its record (marked reused)."""
        from peft import PeftModel

        peft_model = PeftModel.from_pretrained(base_model, self.final, is_trainable=False)
        record: dict[str, Any] = json.loads(
            (self.final / TRAINING_RECORD).read_text(encoding="utf-8")
        )
        record["reused"] = True
        return peft_model, record

    def save(self, peft_model: Any, record: dict[str, Any]) -> None:
        """Store the trained adapter (atomically) and drop the checkpoint."""

        def fill(folder: Path) -> None:
            peft_model.save_pretrained(str(folder))
            write_json_atomic(folder / TRAINING_RECORD, record)

        write_dir_atomic(self.final, fill)
        self.checkpoint.unlink(missing_ok=True)

    def publish(self, target: Path) -> None:
        """Copy the adapter into the run folder (``adapters/<arm><variant>``)."""

        def fill(folder: Path) -> None:
            shutil.copytree(self.final, folder, dirs_exist_ok=True)

        write_dir_atomic(target, fill)

    def sha256(self) -> str:
        return file_sha256(self.final / ADAPTER_WEIGHTS)

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.final.iterdir() if f.is_file())
