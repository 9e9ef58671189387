"""Precision choices for training."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def autocast_dtype(device: str, weights: torch.dtype) -> torch.dtype | None:
    """bf16 autocast on a CUDA device that supports it (unless the weights are fp16);
    None on CPU, where training runs in the weights' float32."""
    import torch

    if not device.startswith("cuda") or weights == torch.float16:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
