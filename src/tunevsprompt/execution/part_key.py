"""The key of a finished unit in the run folder (``parts/<label>.json``): everything its
result depends on. A rerun reuses a part only when its key matches (and the cache is on), and
the run's estimate prices such a unit at nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.execution.base import PARTS_DIR, RunOptions
from tunevsprompt.execution.units import Unit, effective_config
from tunevsprompt.generation.endpoint import is_hosted
from tunevsprompt.runfolder.store import content_key, path_digest
from tunevsprompt.runfolder.versions import RESULTS_SCHEMA_VERSION
from tunevsprompt.suite.loader import LoadedSuite


def part_key(
    loaded: LoadedSuite,
    options: RunOptions,
    config: ArmConfig,
    unit: Unit,
    forgetting: dict[str, Any],
) -> str:
    """Everything a unit's result depends on. The arm's list of seeds, its learning-curve
    sizes and its sweep are left out: each pass is its own unit, so adding a seed reuses
    the passes that finished."""
    suite = loaded.suite
    # The arms it starts from (an optimized prompt's hand-written candidates); the key of an
    # arm that names none is as before.
    named = set(config.arm_references().values())
    references = {
        a.name: {
            "config": a.model_dump(mode="json", exclude={"seeds", "train_sizes", "sweep"}),
            "data": {key: path_digest(loaded.folder / raw) for key, raw in a.data_paths().items()},
        }
        for a in loaded.all_arms
        if a.name in named
    }
    return content_key(
        {
            **({"references": references} if references else {}),
            "arm": config.model_dump(mode="json", exclude={"seeds", "train_sizes", "sweep"}),
            "pass": {"kind": unit.kind, "seed": unit.seed, "size": unit.size},
            "arm_data": {
                key: path_digest(loaded.folder / raw) for key, raw in config.data_paths().items()
            },
            "task": suite.task.model_dump(mode="json"),
            "model": suite.model.model_dump(mode="json"),
            # A hosted arm's answers depend on the suite's endpoint defaults too.
            "endpoint": suite.openai.model_dump(mode="json")
            if suite.openai and is_hosted(config)
            else None,
            "sampling": suite.sampling.model_dump(mode="json"),
            "metrics": suite.metrics.model_dump(mode="json"),
            # The timed sample depends on the decision and gates (a p95 bar times 72).
            "latency": {**suite.latency.model_dump(mode="json"), "sample": suite.latency_sample()},
            # Only arms that are probed depend on the probes.
            "forgetting": forgetting if config.changes_weights else None,
            "limit": options.limit,
            "train_limit": options.train_limit,
            "device": options.device,
            "schema": RESULTS_SCHEMA_VERSION,
        }
    )


def finished_record(
    loaded: LoadedSuite,
    options: RunOptions,
    config: ArmConfig,
    unit: Unit,
    forgetting: dict[str, Any],
    run_dir: Path,
) -> dict[str, Any] | None:
    """The record of ``unit`` when a rerun into ``run_dir`` would reuse it whole (``config``
    is the arm's, before the unit's ``params``), else None."""
    key = part_key(loaded, options, effective_config(config, unit.params), unit, forgetting)
    try:
        part = matching_part(run_dir / PARTS_DIR / f"{unit.label}.json", key, options)
    except (OSError, ValueError):
        return None
    record = part.get("record") if part else None
    return record if isinstance(record, dict) else ({} if part else None)


def matching_part(path: Path, key: str, options: RunOptions) -> dict[str, Any] | None:
    """The part at ``path`` when the cache is on and it was written with ``key`` (the unit
    is reused whole), else None. An unreadable part raises."""
    if not options.use_cache or not path.is_file():
        return None
    part = json.loads(path.read_text(encoding="utf-8"))
    return part if isinstance(part, dict) and part.get("key") == key else None
