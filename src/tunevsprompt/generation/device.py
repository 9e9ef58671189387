"""Turn the user's ``device`` and ``dtype`` settings into concrete torch choices.

torch is imported inside the functions so that validating a suite never pays for it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tunevsprompt.generation.errors import GeneratorError

if TYPE_CHECKING:
    import torch

_CUDA_DEVICE = re.compile(r"^cuda(?::(\d+))?$")
_DTYPES = ("float32", "bfloat16", "float16")


def resolve_device(requested: str) -> str:
    """Return ``cpu``, ``cuda`` or ``cuda:N`` for a requested device.

    ``auto`` picks CUDA when it is there, so one suite file runs on a laptop and on a GPU box.
    Asking for CUDA explicitly where there is none is an error rather than a silent CPU
    fallback: a run the user expected on a GPU would otherwise take hours without a word.
    """
    import torch

    name = requested.strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    match = _CUDA_DEVICE.match(name)
    if match is None:
        raise GeneratorError(
            f"Unknown device {requested!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        )
    if not torch.cuda.is_available():
        raise GeneratorError(
            f"Device {requested!r} was asked for, but CUDA is not available here "
            f"(torch {torch.__version__}). Use device 'auto' or 'cpu'."
        )
    index = match.group(1)
    if index is not None and int(index) >= torch.cuda.device_count():
        raise GeneratorError(
            f"Device {requested!r} does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)."
        )
    return name


def resolve_dtype(requested: str, device: str) -> torch.dtype:
    """Return the torch dtype to load weights in.

    ``auto`` is bfloat16 only on a GPU that supports it; everywhere else float32, because on
    CPU bf16 is emulated on most machines (slower, and less precise for rank scoring).
    """
    import torch

    name = requested.strip().lower()
    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in _DTYPES:
        raise GeneratorError(f"Unknown dtype {requested!r}: use 'auto' or one of {_DTYPES}.")
    dtype: torch.dtype = getattr(torch, name)
    return dtype


def device_name(device: str | None) -> str | None:
    """The GPU's model name (e.g. "NVIDIA H100 80GB HBM3") for CUDA devices, which the cost
    model prices by type; None for the CPU."""
    if not device or not device.startswith("cuda"):
        return None
    import torch

    return str(torch.cuda.get_device_name(torch.device(device)))
