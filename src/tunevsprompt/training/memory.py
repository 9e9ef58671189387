"""Peak memory of a stretch of work: CUDA allocator peak on a GPU, peak RSS on CPU."""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class PeakMemory:
    """``start()`` then ``peak_mb()``.

    On CPU the process's peak RSS is reset at ``start`` where Linux allows it (writing 5 to
    /proc/self/clear_refs resets VmHWM); elsewhere the figure is the process's lifetime peak,
    and ``scope`` says so.
    """

    def __init__(self, device: str):
        self.device = device
        self.scope = "process"

    def start(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.scope = "cuda_allocated"
            return
        with contextlib.suppress(OSError):
            _CLEAR_REFS.write_text("5")
            self.scope = "rss_since_start"

    def peak_mb(self) -> float | None:
        if self.device.startswith("cuda"):
            import torch

            return round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        with contextlib.suppress(OSError, ValueError):
            for line in _STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        # ru_maxrss is in kilobytes on Linux.
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
