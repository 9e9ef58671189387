"""Trained adapters (and fine-tuned encoders) outside the run folder, by training key: the
content hash of everything that decides the trained weights. A rerun, another run folder or
a sweep's winning trial reuses a result whose key matches instead of training again; an
interrupted training resumes from its checkpoint there. The run folder gets a copy
(``publish``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tunevsprompt.generation.model_source import file_sha256
from tunevsprompt.runfolder.store import (
    content_key,
    exclusive_lock,
    write_dir_atomic,
    write_json_atomic,
)

TRAINING_FORMAT = 1
"""Bump when a change to training would make cached adapters differ from fresh ones."""

ADAPTER_WEIGHTS = "adapter_model.safetensors"
TRAINING_RECORD = "training.json"


class KeyedItem(Protocol):
    """A training item that can say what of it decides the weights (token ids, label)."""

    def key_row(self) -> list[object]: ...


def training_key(
    method: str,
    identity: Mapping[str, Any],
    seed: int,
    train: Sequence[KeyedItem],
    dev: Sequence[KeyedItem],
    model_fingerprint: str,
    device: str,
) -> str:
    """Content hash of everything that decides the trained weights. The token ids cover the
    data, the prompt format and the tokenizer."""

    def digest(examples: Sequence[KeyedItem]) -> str:
        rows = [e.key_row() for e in examples]
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
    """One training key's folder: ``final/`` (the adapter in peft's format, or another
    trained model, and its training record) and ``checkpoint.pt`` (an unfinished training).
    ``weights_file`` names the file inside ``final/`` whose hash identifies the result."""

    work: Path
    weights_file: str = ADAPTER_WEIGHTS

    @classmethod
    def under(cls, root: Path, key: str, weights_file: str = ADAPTER_WEIGHTS) -> AdapterCache:
        return cls(root / "training" / key, weights_file)

    @property
    def final(self) -> Path:
        return self.work / "final"

    @property
    def checkpoint(self) -> Path:
        return self.work / "checkpoint.pt"

    def lock(self, log: Callable[[str], None]) -> contextlib.AbstractContextManager[None]:
        """Held while a run trains or reuses this key: a second run sharing the cache waits
        for the first to finish, then reuses its result instead of training beside it."""
        return exclusive_lock(
            self.work / "lock",
            lambda: log(f"waiting for another run that trains the same model ({self.work})"),
            lambda why: log(f"warning: training without a lock ({why})"),
        )

    def finished(self) -> bool:
        """A complete result with its record is there."""
        weights = self.final / self.weights_file
        return (self.final / TRAINING_RECORD).exists() and weights.exists()

    def reused_record(self) -> dict[str, Any]:
        """The finished result's training record, marked reused."""
        record: dict[str, Any] = json.loads(
            (self.final / TRAINING_RECORD).read_text(encoding="utf-8")
        )
        record["reused"] = True
        return record

    def load(self, base_model: Any) -> tuple[Any, dict[str, Any]]:
        """The finished adapter on ``base_model``, and its record (marked reused)."""
        from peft import PeftModel

        peft_model = PeftModel.from_pretrained(base_model, self.final, is_trainable=False)
        return peft_model, self.reused_record()

    def save(self, peft_model: Any, record: dict[str, Any]) -> None:
        """Store the trained adapter (atomically) and drop the checkpoint."""
        self.save_with(lambda folder: peft_model.save_pretrained(str(folder)), record)

    def save_with(self, write: Callable[[Path], None], record: dict[str, Any]) -> None:
        """Store what ``write`` puts in a folder, with its record (atomically), and drop
        the checkpoint."""

        def fill(folder: Path) -> None:
            write(folder)
            write_json_atomic(folder / TRAINING_RECORD, record)

        write_dir_atomic(self.final, fill)
        self.checkpoint.unlink(missing_ok=True)

    def publish(self, target: Path) -> None:
        """Put the result into the run folder (``adapters/<arm><variant>``,
        ``models/<arm><variant>``): hard links to the cache's files where the file system
        allows (a model per seed and trial costs no space twice), copies elsewhere."""

        def fill(folder: Path) -> None:
            shutil.copytree(self.final, folder, dirs_exist_ok=True, copy_function=_link_or_copy)

        write_dir_atomic(target, fill)

    def sha256(self) -> str:
        return file_sha256(self.final / self.weights_file)

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.final.rglob("*") if f.is_file())


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
