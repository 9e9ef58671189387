"""What every model of the suite file shares: unknown keys are errors, values are frozen,
and no number may be infinite or NaN (``.inf`` in YAML is a float); and the value types with
a range of their own: seeds, and the device names torch can be given."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
"""The ``model_config`` of every suite model (arms and blocks alike)."""

_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


def check_device(value: str) -> str:
    """auto, cpu, cuda or cuda:N (any case, as ``generation.device.resolve_device`` takes
    them); whether CUDA is there is checked when the model loads."""
    if _DEVICE.fullmatch(value.strip().lower()) is None:
        raise ValueError(f"unknown device {value!r}: use auto, cpu, cuda or cuda:N")
    return value


DeviceName = Annotated[str, AfterValidator(check_device)]
DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda, cuda:N."

Seed = Annotated[int, Field(ge=0, lt=2**32)]
"""A seed every generator takes (numpy's and torch's refuse negatives and 2**64)."""
