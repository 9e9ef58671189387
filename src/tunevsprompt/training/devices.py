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


def precision(device: str, weights: torch.dtype) -> str:
    """How training runs, in words, from the same choice ``autocast_dtype`` makes."""
    weights_name = str(weights).removeprefix("torch.")
    autocast = autocast_dtype(device, weights)
    if autocast is None:
        return f"{weights_name} throughout"
    autocast_name = str(autocast).removeprefix("torch.")
    return f"{weights_name} weights, {autocast_name} autocast, float32 trainable parameters"
