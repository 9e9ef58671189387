"""What each kind of unit computes: the headline pass (prepare, predict, score, latency,
integrity, forgetting, samples), a further seed or learning-curve size (kept as a summary),
and a sweep trial (scored on dev)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunevsprompt.arms.base import Arm, ArmConfig, RunContext
from tunevsprompt.arms.capabilities import (
    ChecksIntegrity,
    HasDevSample,
    HasLatencyVariants,
    IntegrityCheckKeys,
    RecordsEndpoint,
    RecordsRetrieval,
)
from tunevsprompt.arms.registry import get_arm_type
from tunevsprompt.execution.abstention import dev_threshold
from tunevsprompt.execution.base import RunObserver
from tunevsprompt.execution.units import Unit, UnitResult, summary, training_summary
from tunevsprompt.generation.caching import CacheSession
from tunevsprompt.measure.evaluate import score_predictions
from tunevsprompt.measure.integrity import integrity_record, quality_against_base
from tunevsprompt.measure.latency import measure_latency
from tunevsprompt.suite.loader import LoadedSuite
from tunevsprompt.task.data import example_cluster, stratified_sample
from tunevsprompt.task.types import Example, Prediction

if TYPE_CHECKING:
    from tunevsprompt.forgetting.measure import ForgettingMeter


@dataclass
class Pass:
    """What one pass of an arm needs."""

    loaded: LoadedSuite
    config: ArmConfig
    test: Sequence[Example]
    session: CacheSession
    observer: RunObserver
    label: str
    ctx: RunContext
    train: Sequence[Example]
    dev: Sequence[Example]
    meter: ForgettingMeter


@dataclass
class _Scored:
    arm: Arm
    record: dict[str, Any]
    predictions: list[Prediction]
    per_example: list[dict[str, float]]


def _chunks(items: Sequence[Example], size: int) -> list[Sequence[Example]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _prepare(job: Pass, train: Sequence[Example]) -> tuple[Arm, dict[str, Any], float]:
    arm = get_arm_type(job.config.type)(job.config)
    began = time.perf_counter()
    extra = arm.prepare(train, job.ctx)
    return arm, extra, time.perf_counter() - began


def _predict_and_score(
    job: Pass, arm: Arm, examples: Sequence[Example]
) -> tuple[list[Prediction], dict[str, Any], list[dict[str, float]], float, Any]:
    """Predict ``examples`` in the arm's batches (reporting progress) and score them."""
    suite = job.loaded.suite
    job.session.reset_stats()
    predictions: list[Prediction] = []
    began = time.perf_counter()
    for batch in _chunks(examples, job.config.batch_size):
        predictions.extend(arm.predict(batch))
        job.observer.advanced(job.label, len(batch))
    wall_s = time.perf_counter() - began
    stats = job.session.reset_stats()
    cluster_field = suite.metrics.cluster_field
    clusters = (
        [example_cluster(e, suite.task, cluster_field) or "" for e in examples]
        if cluster_field
        else None
    )
    quality, per_example = score_predictions(
        suite.task.type,
        examples,
        predictions,
        suite.primary_metric(),
        suite.metrics.bootstrap_samples,
        suite.sampling.seed,
        clusters,
    )
    return predictions, quality, per_example, wall_s, stats


def _test_pass(job: Pass, train: Sequence[Example]) -> _Scored:
    """prepare on ``train``, predict and score the whole test split."""
    job.observer.unit_started(job.label, len(job.test))
    arm, extra, prepare_s = _prepare(job, train)
    predictions, quality, per_example, wall_s, stats = _predict_and_score(job, arm, job.test)
    compute_s = stats.compute_s if (stats.computed or stats.cached) else wall_s
    record = {
        "type": job.config.type,
        "n": len(job.test),
        **quality,
        "latency_ms": None,
        "throughput_eps": round(len(job.test) / compute_s, 4) if compute_s > 0 else None,
        "prepare_s": round(prepare_s, 3),
        "cache": {"computed": stats.computed, "cached": stats.cached},
        "seed": job.ctx.seed,
        "config": job.config.model_dump(mode="json"),
        **extra,
    }
    return _Scored(arm, record, predictions, per_example)


def _head_pass(job: Pass, unit: Unit) -> UnitResult:
    """The headline pass (first seed, whole train split) with its latency, integrity check,
    forgetting probes and per-example samples."""
    suite, test, config = job.loaded.suite, job.test, job.config
    head = _test_pass(job, job.train)
    record = head.record

    def timed(
        predict: Callable[[Sequence[Example]], list[Prediction]],
    ) -> tuple[dict[str, Any] | None, dict[str, float]]:
        return measure_latency(
            predict, test, suite.latency_sample(), suite.latency.warmup, job.session.bypass
        )

    arm = head.arm
    record["latency_ms"], timings = timed(arm.predict)
    if isinstance(arm, HasLatencyVariants):
        record["latency_variants"] = {
            name: timed(predict)[0] for name, predict in arm.latency_variants().items()
        }
    if isinstance(arm, ChecksIntegrity):
        record["integrity"] = _integrity(job, head, arm)
    record["forgetting"], probe_samples = job.meter.for_arm(config, arm)
    retrieval = (
        arm.retrieval_record([e.id for e in test]) if isinstance(arm, RecordsRetrieval) else None
    )
    if retrieval is not None:
        record["retrieval"] = retrieval
    api = arm.api_record() if isinstance(arm, RecordsEndpoint) else None
    if api is not None:
        record["api"] = api
    # After the retrieval and request records: the dev answers must not count in them.
    label = suite.task.abstain_label
    if label is not None and all("confidence" in p.extra for p in head.predictions):
        record["abstention"] = dev_threshold(
            label, job.dev, arm.predict, config.batch_size, job.ctx.seed
        )
    cluster_field = suite.metrics.cluster_field
    samples = [
        {
            "arm": config.name,
            "id": e.id,
            "input": e.input,
            "target": e.target,
            "raw_output": p.raw_output,
            "prediction": p.prediction,
            "correct": (p.prediction == e.target) if suite.task.type == "classification" else None,
            "parse": p.parse,
            "scores": s,
            "latency_ms": timings.get(e.id),
            "tokens": {"input": p.input_tokens, "output": p.output_tokens},
            **({"cluster": example_cluster(e, suite.task, cluster_field)} if cluster_field else {}),
            **({"context": p.extra["context"]} if "context" in p.extra else {}),
            **({"error": p.extra["error"]} if "error" in p.extra else {}),
            **({"confidence": p.extra["confidence"]} if "confidence" in p.extra else {}),
            **(
                {"slices": {f: example_cluster(e, suite.task, f) for f in suite.slices}}
                if suite.slices
                else {}
            ),
        }
        for e, p, s in zip(test, head.predictions, head.per_example, strict=True)
    ]
    visible = arm.visible_texts()
    del head, arm
    gc.collect()
    return UnitResult(unit, record, samples, visible, probe_samples)


def _seed_pass(job: Pass, unit: Unit) -> UnitResult:
    """The whole train split with another seed: the seed study's figures, and its
    per-example rows (seed_samples.jsonl), from which the headline interval and the
    comparisons take the seed-to-seed variance."""
    job.observer.message(f"{unit.arm}: seed {unit.seed}")
    return _summary_pass(job, unit, job.train, "seed", unit.seed, keep_rows=True)


def _size_pass(job: Pass, unit: Unit) -> UnitResult:
    """A nested stratified subset of the train split (each smaller one inside the larger)."""
    assert unit.size is not None
    job.observer.message(f"{unit.arm}: learning curve at {unit.size} training examples")
    stratify = job.loaded.suite.task.type == "classification"
    subset = stratified_sample(job.train, None, unit.size, unit.seed, "learning-curve", stratify)
    return _summary_pass(job, unit, subset, "train_size", len(subset))


def _summary_pass(
    job: Pass,
    unit: Unit,
    train: Sequence[Example],
    key: str,
    value: int,
    keep_rows: bool = False,
) -> UnitResult:
    """A pass kept as its summary (seed study, learning curve), tagged ``{key: value}``, and
    with ``keep_rows`` its per-example rows; its failed requests, if any, travel with it so
    that it is not kept as finished."""
    scored = _test_pass(job, train)
    record = {key: value, **summary(scored.record)}
    errors = scored.record.get("errors")
    rows = _seed_rows(job, unit, scored) if keep_rows else []
    del scored
    gc.collect()
    return UnitResult(unit, {**record, **({"errors": errors} if errors else {})}, rows)


def _seed_rows(job: Pass, unit: Unit, scored: _Scored) -> list[dict[str, Any]]:
    suite = job.loaded.suite
    cluster_field = suite.metrics.cluster_field
    return [
        {
            "arm": unit.arm,
            "seed": unit.seed,
            "id": e.id,
            "target": e.target,
            "prediction": p.prediction,
            "parse": p.parse,
            "scores": s,
            **({"cluster": example_cluster(e, suite.task, cluster_field)} if cluster_field else {}),
        }
        for e, p, s in zip(job.test, scored.predictions, scored.per_example, strict=True)
    ]


def _trial_pass(job: Pass, unit: Unit) -> UnitResult:
    """One sweep trial: train with the trial's settings, score the primary metric on the
    dev sample the training was evaluated on. The test split is not touched."""
    if not job.dev:
        raise job.ctx.config_error(
            "sweep",
            "a sweep picks its trial on the dev split, and this run's dev split is empty",
            "give task.data.dev, or a task.data.dev_fraction above 0",
        )
    from tunevsprompt.training.selection import TrainingDiverged

    job.observer.message(f"{unit.arm}: sweep trial {unit.trial}: {unit.params}")
    try:
        arm, extra, _ = _prepare(job, job.train)
    except TrainingDiverged as diverged:
        # A setting that diverges is a result of the sweep, not a failure of the run.
        job.observer.message(f"{unit.label}: {diverged}")
        record = {"trial": unit.trial, "params": unit.params, "dev": None}
        return UnitResult(unit, {**record, "diverged": str(diverged)})
    dev = list((arm.dev_sample if isinstance(arm, HasDevSample) else None) or job.dev)
    job.observer.unit_started(job.label, len(dev))
    _, quality, _, _, _ = _predict_and_score(job, arm, dev)
    training = extra.get("training") or {}
    adapter = extra.get("adapter") or {}
    record = {
        "trial": unit.trial,
        "params": unit.params,
        "dev": quality["quality"],
        "dev_examples": len(dev),
        "training": training_summary(training),
        "adapter": {"path": adapter.get("path"), "sha256": adapter.get("sha256")},
    }
    del arm
    gc.collect()
    return UnitResult(unit, record)


PASSES: dict[str, Callable[[Pass, Unit], UnitResult]] = {
    "head": _head_pass,
    "seed": _seed_pass,
    "size": _size_pass,
    "trial": _trial_pass,
}


def _integrity(job: Pass, head: _Scored, arm: ChecksIntegrity) -> dict[str, Any]:
    """The tuned arm's answers against the base model's on the first ``integrity_sample``
    test examples: how many changed, and (0/1 metrics) the paired quality difference."""
    config, test, observer = job.config, job.test, job.observer
    keys = config if isinstance(config, IntegrityCheckKeys) else IntegrityCheckKeys()
    threshold = keys.integrity_min_changed
    chosen = list(test[: keys.integrity_sample])
    base = arm.base_predict(chosen)
    result = integrity_record(head.predictions[: len(chosen)], base, threshold)
    metric = job.ctx.task.primary_metric
    _, base_rows = score_predictions(
        job.ctx.task.type, chosen, base, metric, job.loaded.suite.metrics.bootstrap_samples, 0
    )
    tuned_values = [row.get(metric) for row in head.per_example[: len(chosen)]]
    base_values = [row.get(metric) for row in base_rows]
    against = quality_against_base(tuned_values, base_values, metric)
    if against is not None:
        result["quality_against_base"] = against
    if not result["ok"]:
        best = (head.record.get("training") or {}).get("best_dev_metric") or {}
        why = (
            "Training never beat the untrained model on dev, so the untrained weights were "
            "kept: its figures are the base model's."
            if best.get("step") == 0
            else "The adapter did (almost) nothing, or was not applied; its figures are the "
            "base model's."
        )
        observer.message(
            f"WARNING: arm {config.name}: the tuned model's outputs differ from the base "
            f"model's on only {result['changed_fraction']:.0%} of {result['sample']} test "
            f"examples (threshold {threshold:.0%}). {why}"
        )
    return result
