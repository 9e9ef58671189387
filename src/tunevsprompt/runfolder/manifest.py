"""What a run was: versions, hashes, seed, device, times. Recorded in results.json."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "tunevsprompt",
    "torch",
    "transformers",
    "peft",
    "datasets",
    "numpy",
    "scipy",
    "scikit-learn",
    "pydantic",
    "sentence-transformers",
    "faiss-cpu",
    "gguf",
)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_sha(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def start_manifest(
    suite_path: Path, suite_sha256: str, seed: int, options: dict[str, Any]
) -> dict[str, Any]:
    return {
        "suite_path": str(suite_path),
        "suite_sha256": suite_sha256,
        "git_sha": git_sha(suite_path.parent),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "seed": seed,
        "options": options,
        "started_at": now_iso(),
    }
