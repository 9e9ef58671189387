"""Orchestrates one `tvp compare`: data → units of work (run by an executor) → run folder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tunevsprompt.decide.analyse import Policy, decide
from tunevsprompt.errors import SuiteError
from tunevsprompt.execution.base import (
    ArmOutcome,
    ArmsRun,
    Executor,
    GeneratorLoader,
    RunObserver,
    RunOptions,
    SilentObserver,
    TrainableLoader,
    cache_dir,
    load_default_generator,
    load_hf_generator,
)
from tunevsprompt.execution.local import LocalExecutor
from tunevsprompt.forgetting.measure import fill_unchanged, forgetting_summary
from tunevsprompt.measure.contamination import overlap
from tunevsprompt.report.write import SEED_SAMPLES, write_reports
from tunevsprompt.runfolder.manifest import now_iso, start_manifest
from tunevsprompt.runfolder.results import write_results
from tunevsprompt.runfolder.store import require_writable_dir, write_jsonl_atomic
from tunevsprompt.runfolder.versions import RESULTS_SCHEMA_VERSION
from tunevsprompt.suite.loader import LoadedSuite
from tunevsprompt.task.data import TaskData, load_task_data
from tunevsprompt.task.data_checks import check_task_data

__all__ = [
    "FORGETTING_SAMPLES",
    "SEED_SAMPLES",
    "ArmOutcome",
    "ArmsRun",
    "Executor",
    "RunObserver",
    "RunOptions",
    "SilentObserver",
    "default_run_dir",
    "load_hf_generator",
    "run_compare",
]

FORGETTING_SAMPLES = "forgetting_samples.jsonl"


def default_run_dir(suite_name: str) -> Path:
    return Path("reports") / suite_name / datetime.now().strftime("%Y%m%d-%H%M%S")


def run_compare(
    loaded: LoadedSuite,
    options: RunOptions,
    observer: RunObserver,
    generator_loader: GeneratorLoader = load_default_generator,
    trainable_loader: TrainableLoader = load_hf_generator,
    executor: Executor | None = None,
) -> Path:
    """Run every selected arm and write results.json (validated by its model), samples.jsonl
    and the reports."""
    if options.arms:
        loaded = loaded.select_arms(options.arms)
    suite = loaded.suite
    data = load_task_data(loaded, options.limit, options.train_limit)
    findings = check_task_data(loaded, data)
    if findings.problems:
        raise SuiteError(findings.problems)
    for warning in findings.warnings:
        observer.message(f"warning: {warning}")
    run_dir = options.out or (
        Path(suite.output.dir) if suite.output.dir else default_run_dir(suite.name)
    )
    require_writable_dir(run_dir, "the run folder", "--out")
    require_writable_dir(cache_dir(options), "the cache folder", "--cache-dir")
    manifest = start_manifest(
        loaded.path,
        loaded.sha256,
        suite.sampling.seed,
        {
            "arms": [a.name for a in loaded.arms],
            "limit": options.limit,
            "train_limit": options.train_limit,
            "device": options.device,
            "use_cache": options.use_cache,
        },
    )
    chosen = executor or LocalExecutor(generator_loader, trainable_loader)
    outcomes, model = chosen.run(ArmsRun(loaded, options, data, run_dir), observer)
    manifest.update(
        model,
        model_spec=suite.model.model_dump(mode="json"),
        finished_at=now_iso(),
    )
    samples = [row for o in outcomes.values() for row in o.samples]
    seed_samples = [row for o in outcomes.values() for row in o.seed_samples]
    results = decide(
        _assemble(loaded, data, manifest, outcomes, run_dir),
        samples,
        Policy.from_suite(suite),
        seed_samples,
    )
    typed = write_results(run_dir / "results.json", results)
    write_jsonl_atomic(run_dir / "samples.jsonl", samples)
    if seed_samples:
        write_jsonl_atomic(run_dir / SEED_SAMPLES, seed_samples)
    else:
        (run_dir / SEED_SAMPLES).unlink(missing_ok=True)
    write_jsonl_atomic(
        run_dir / FORGETTING_SAMPLES, (row for o in outcomes.values() for row in o.probe_samples)
    )
    write_reports(run_dir, typed, samples)
    return run_dir


def _assemble(
    loaded: LoadedSuite,
    data: TaskData,
    manifest: dict[str, Any],
    outcomes: dict[str, ArmOutcome],
    run_dir: Path,
) -> dict[str, Any]:
    suite = loaded.suite
    labels = data.labels
    arms = {name: o.record for name, o in outcomes.items()}
    forgetting = forgetting_summary(suite.forgetting_config(), arms)
    fill_unchanged(arms, forgetting)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "suite": suite.name,
        "run_id": run_dir.name,
        "task": {
            "type": suite.task.type,
            "primary_metric": suite.primary_metric(),
            "cluster_field": suite.metrics.cluster_field,
            "bootstrap_samples": suite.metrics.bootstrap_samples,
            "labels": labels.labels if labels else None,
            "label_forms": labels.surface if labels else None,
            "data": data.provenance,
        },
        "manifest": manifest,
        "contamination": {
            "ngram": 13,
            "train": overlap(data.test, (e.input for e in data.train)),
            "dev": overlap(data.test, (e.input for e in data.dev)),
            "arms": {name: overlap(data.test, o.visible_texts) for name, o in outcomes.items()},
        },
        "forgetting": forgetting,
        "arms": arms,
    }
