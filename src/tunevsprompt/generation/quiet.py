"""Keep library noise out of the run's console, which shows its own progress (rich bars or
plain lines): transformers' loading and shard-writing bars, the GGUF converter's bar, and a
deprecation warning that peft triggers inside transformers."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def no_loading_bars() -> Iterator[None]:
    """transformers' own bars (loading weights, writing model shards) switched off."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def no_stderr_bars() -> Iterator[None]:
    """For library code that draws a plain tqdm bar no switch reaches (transformers' GGUF
    converter): its stderr is kept aside; failures still arrive as exceptions."""
    with no_loading_bars(), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def no_peft_deprecation_noise() -> Iterator[None]:
    """peft reads ``model.is_gradient_checkpointing``, which transformers 5.2x deprecates
    with a FutureWarning on every attach: not ours to fix, and not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*is_gradient_checkpointing.*deprecated", category=FutureWarning
        )
        yield
