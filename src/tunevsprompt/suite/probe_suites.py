"""Suites used as forgetting probes: which of a probe suite's arms answers its eval set.
Used by the loader's checks and by the forgetting meter alike."""

from __future__ import annotations

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.suite.loaded import LoadedSuite

PROBE_ARM_HINT = "name a zero-shot or few-shot arm of that suite with `arm:`"


def probe_suite_arm(probe_suite: LoadedSuite, wanted: str | None) -> ArmConfig:
    """The prompting arm of a probe suite that answers its eval set: the one named, or the
    first zero-shot/few-shot arm. ``ValueError`` says why none fits."""
    arms = {a.name: a for a in probe_suite.arms}
    if wanted is not None:
        config = arms.get(wanted)
        if config is None:
            raise ValueError(
                f"{probe_suite.shown_path} has no arm {wanted!r} (arms: {', '.join(arms)})"
            )
        if config.changes_weights:
            raise ValueError(
                f"arm {wanted!r} of {probe_suite.shown_path} is a tuning arm; a suite probe "
                "needs an arm that answers with the model as it is (zero-shot, few-shot, rag)"
            )
        return config
    for config in probe_suite.arms:
        if config.type in ("zero-shot", "few-shot"):
            return config
    raise ValueError(f"{probe_suite.shown_path} has no zero-shot or few-shot arm")
