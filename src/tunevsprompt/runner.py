"""Orchestrates one `tvp compare`: data → arms (prepare, predict, time) → run folder."""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tunevsprompt import RESULTS_SCHEMA_VERSION
from tunevsprompt.arms.base import Arm, ArmConfig, RunContext, TaskInfo
from tunevsprompt.arms.registry import get_arm_type
from tunevsprompt.contamination import overlap
from tunevsprompt.data import TaskData, load_task_data, stratified_sample
from tunevsprompt.decide.analyse import Policy, decide
from tunevsprompt.errors import SuiteError
from tunevsprompt.evaluate import score_predictions
from tunevsprompt.forgetting.measure import ForgettingMeter, fill_unchanged, forgetting_summary
from tunevsprompt.generation.base import Generator
from tunevsprompt.generation.caching import CacheSession, CachingGenerator
from tunevsprompt.generation.device import device_name
from tunevsprompt.integrity import integrity_record
from tunevsprompt.latency import measure_latency
from tunevsprompt.manifest import now_iso, start_manifest
from tunevsprompt.report.write import write_reports
from tunevsprompt.store import (
    PredictionCache,
    content_key,
    path_digest,
    write_json_atomic,
    write_jsonl_atomic,
)
from tunevsprompt.suite_loader import LoadedSuite
from tunevsprompt.types import Example, Prediction

if TYPE_CHECKING:
    from tunevsprompt.generation.hf import HFGenerator

PARTS_DIR = "parts"


class RunObserver(Protocol):
    """Progress sink: the CLI shows it with rich or plain lines; tests may record it."""

    def arm_started(self, name: str, total: int) -> None: ...
    def advanced(self, count: int) -> None: ...
    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None: ...
    def message(self, text: str) -> None: ...


class SilentObserver:
    """A RunObserver that shows nothing (scripts, benchmarks, tests)."""

    def arm_started(self, name: str, total: int) -> None:
        pass

    def advanced(self, count: int) -> None:
        pass

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class RunOptions:
    """What the CLI (or a script) can change about a run without editing the suite."""

    arms: list[str] | None = None
    limit: int | None = None
    train_limit: int | None = None
    out: Path | None = None
    device: str | None = None
    use_cache: bool = True
    cache_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


GeneratorLoader = Callable[[LoadedSuite, RunOptions], Generator]
TrainableLoader = Callable[[LoadedSuite, RunOptions], "HFGenerator"]


def load_default_generator(loaded: LoadedSuite, options: RunOptions) -> Generator:
    return load_hf_generator(loaded, options)


def load_hf_generator(loaded: LoadedSuite, options: RunOptions) -> HFGenerator:
    """A fresh copy of the suite's model (tuning arms train their own copy)."""
    from tunevsprompt.generation.hf import load_generator
    from tunevsprompt.generation.model_source import ModelSpec

    model = loaded.suite.model
    spec = ModelSpec(
        model.id, model.gguf_file, model.revision, options.device or model.device, model.dtype
    )
    return load_generator(spec)


def default_run_dir(suite_name: str) -> Path:
    return Path("reports") / suite_name / datetime.now().strftime("%Y%m%d-%H%M%S")


def _cache_dir(options: RunOptions) -> Path:
    from tunevsprompt.generation.model_source import cache_root

    return options.cache_dir or cache_root()


def prediction_cache_path(options: RunOptions) -> Path:
    return _cache_dir(options) / "predictions.sqlite"


FORGETTING_SAMPLES = "forgetting_samples.jsonl"


@dataclass
class ArmOutcome:
    record: dict[str, Any]
    samples: list[dict[str, Any]]
    visible_texts: list[str]
    probe_samples: list[dict[str, Any]] = field(default_factory=list)
    """Per-item forgetting-probe rows, base and tuned model side by side."""


@dataclass
class ArmsRun:
    """What every arm of one run shares, handed to whichever executor runs the arms."""

    loaded: LoadedSuite
    options: RunOptions
    data: TaskData
    run_dir: Path


class Executor(Protocol):
    """Runs the arms of a run and returns their outcomes (in the suite's order) and the
    manifest of the base model they loaded, if any."""

    def run(
        self, run: ArmsRun, observer: RunObserver
    ) -> tuple[dict[str, ArmOutcome], dict[str, Any]]: ...


@dataclass
class LocalExecutor:
    """The arms one after another in this process (the default)."""

    generator_loader: GeneratorLoader = load_default_generator
    trainable_loader: TrainableLoader = load_hf_generator

    def run(
        self, run: ArmsRun, observer: RunObserver
    ) -> tuple[dict[str, ArmOutcome], dict[str, Any]]:
        names = [a.name for a in run.loaded.arms]
        return run_arms(run, names, observer, self.generator_loader, self.trainable_loader)


def run_compare(
    loaded: LoadedSuite,
    options: RunOptions,
    observer: RunObserver,
    generator_loader: GeneratorLoader = load_default_generator,
    trainable_loader: TrainableLoader = load_hf_generator,
    executor: Executor | None = None,
) -> Path:
    """Run every selected arm and write results.json, samples.jsonl and the reports."""
    if options.arms:
        loaded = loaded.select_arms(options.arms)
    suite = loaded.suite
    data = load_task_data(loaded, options.limit, options.train_limit)
    run_dir = options.out or (
        Path(suite.output.dir) if suite.output.dir else default_run_dir(suite.name)
    )
    run_dir.mkdir(parents=True, exist_ok=True)
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
    results = decide(
        _assemble(loaded, data, manifest, outcomes, run_dir), samples, Policy.from_suite(suite)
    )
    write_json_atomic(run_dir / "results.json", results)
    write_jsonl_atomic(run_dir / "samples.jsonl", samples)
    write_jsonl_atomic(
        run_dir / FORGETTING_SAMPLES, (row for o in outcomes.values() for row in o.probe_samples)
    )
    write_reports(run_dir, results, samples)
    return run_dir


def run_arms(
    run: ArmsRun,
    names: Sequence[str],
    observer: RunObserver,
    generator_loader: GeneratorLoader = load_default_generator,
    trainable_loader: TrainableLoader = load_hf_generator,
) -> tuple[dict[str, ArmOutcome], dict[str, Any]]:
    """Run (or reuse from the run folder) the named arms here, one after another, sharing one
    prediction cache and one lazily loaded base model."""
    loaded, options, data, run_dir = run.loaded, run.options, run.data, run.run_dir
    suite = loaded.suite
    cache = PredictionCache(prediction_cache_path(options), read=options.use_cache)
    session = CacheSession(cache)
    holder: dict[str, CachingGenerator] = {}

    def generator() -> CachingGenerator:
        if "g" not in holder:
            observer.message(f"loading model {suite.model.id}")
            holder["g"] = CachingGenerator(generator_loader(loaded, options), session)
        return holder["g"]

    def trainable_base() -> HFGenerator:
        observer.message(f"loading a trainable copy of {suite.model.id}")
        return trainable_loader(loaded, options)

    ctx = RunContext(
        TaskInfo(
            suite.task.type,
            suite.task.instruction,
            data.labels,
            suite.primary_metric(),
            suite.task.target_field,
        ),
        suite.sampling.seed,
        run_dir,
        generator,
        dev=data.dev,
        cache_dir=_cache_dir(options),
        use_cache=options.use_cache,
        load_trainable_base=trainable_base,
        cached=lambda inner: CachingGenerator(inner, session),
        log=observer.message,
        data_root=loaded.folder,
        device=options.device or suite.model.device,
        endpoints=suite.openai,
    )
    outcomes: dict[str, ArmOutcome] = {}
    meter = ForgettingMeter(loaded, ctx, observer.message)
    try:
        for config in loaded.arms:
            if config.name not in names:
                continue
            arm_ctx = replace(ctx, config_error=_config_error(loaded, config.name))
            job = ArmJob(loaded, config, data, session, observer, meter)
            outcomes[config.name] = _run_or_reuse_arm(job, options, arm_ctx, run_dir)
    finally:
        cache.close()
    return outcomes, _model_manifest(holder.get("g"))


def _config_error(
    loaded: LoadedSuite, arm_name: str
) -> Callable[[str, str, str | None], Exception]:
    """Errors about this arm's settings found at run time, located like load-time ones."""
    index = next(i for i, entry in enumerate(loaded.suite.arms) if entry.name == arm_name)

    def error(key: str, message: str, hint: str | None = None) -> Exception:
        loc: tuple[str | int, ...] = ("arms", index, *key.split("."))
        return SuiteError([loaded.problem(loc, message, hint)])

    return error


def _part_key(
    loaded: LoadedSuite, options: RunOptions, config: ArmConfig, meter: ForgettingMeter
) -> str:
    suite = loaded.suite
    return content_key(
        {
            "arm": config.model_dump(mode="json"),
            "arm_data": {
                key: path_digest(loaded.folder / raw) for key, raw in config.data_paths().items()
            },
            "task": suite.task.model_dump(mode="json"),
            "model": suite.model.model_dump(mode="json"),
            # A hosted arm's answers depend on the suite's endpoint defaults too.
            "endpoint": suite.openai.model_dump(mode="json")
            if suite.openai and getattr(config, "backend", "local") == "openai"
            else None,
            "sampling": suite.sampling.model_dump(mode="json"),
            "metrics": suite.metrics.model_dump(mode="json"),
            "latency": suite.latency.model_dump(mode="json"),
            # Only arms that are probed depend on the probes.
            "forgetting": meter.identity if config.changes_weights else None,
            "limit": options.limit,
            "train_limit": options.train_limit,
            "device": options.device,
            "schema": RESULTS_SCHEMA_VERSION,
        }
    )


def _run_or_reuse_arm(
    job: ArmJob, options: RunOptions, ctx: RunContext, run_dir: Path
) -> ArmOutcome:
    """An arm finished earlier in this run folder with the same settings is reused whole."""
    config, observer = job.config, job.observer
    part_path = run_dir / PARTS_DIR / f"{config.name}.json"
    key = _part_key(job.loaded, options, config, job.meter)
    if options.use_cache and part_path.exists():
        part = json.loads(part_path.read_text(encoding="utf-8"))
        if part.get("key") == key:
            outcome = ArmOutcome(
                part["record"],
                part["samples"],
                part["visible_texts"],
                part.get("probe_samples", []),
            )
            observer.arm_finished(config.name, outcome.record, reused=True)
            return outcome
    outcome = _run_arm(job, ctx)
    if outcome.record.get("errors"):
        # Failed requests are retried by the next run: the arm is not finished.
        kinds = (outcome.record.get("api") or {}).get("error_kinds") or {}
        observer.message(
            f"WARNING: arm {config.name}: {outcome.record['errors']} of {outcome.record['n']} "
            f"requests failed ({', '.join(f'{k} x{n}' for k, n in kinds.items()) or 'errors'}); "
            "they count as wrong answers. Rerun with the same --out to ask them again."
        )
        observer.arm_finished(config.name, outcome.record, reused=False)
        return outcome
    write_json_atomic(
        part_path,
        {
            "key": key,
            "record": outcome.record,
            "samples": outcome.samples,
            "visible_texts": outcome.visible_texts,
            "probe_samples": outcome.probe_samples,
        },
    )
    observer.arm_finished(config.name, outcome.record, reused=False)
    return outcome


def _chunks(items: Sequence[Example], size: int) -> list[Sequence[Example]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class ArmJob:
    """What every pass of one arm shares: the suite, the arm's config, the data, the run's
    services."""

    loaded: LoadedSuite
    config: ArmConfig
    data: TaskData
    session: CacheSession
    observer: RunObserver
    meter: ForgettingMeter


@dataclass
class ArmPass:
    """One prepare + predict + score of an arm on the test split."""

    arm: Arm
    record: dict[str, Any]
    predictions: list[Prediction]
    per_example: list[dict[str, float]]


def _run_arm(job: ArmJob, ctx: RunContext) -> ArmOutcome:
    """The headline pass (first seed, whole train split), its latency and integrity check,
    then the extra passes asked for: other seeds, learning-curve sizes."""
    config, data, session, observer = job.config, job.data, job.session, job.observer
    suite = job.loaded.suite
    test = data.test
    seeds: list[int] = getattr(config, "seeds", None) or [ctx.seed]
    sizes = _curve_sizes(getattr(config, "train_sizes", None), len(data.train))
    passes = len(seeds) + sum(1 for size in sizes if size is not None)
    observer.arm_started(config.name, len(test) * passes)
    head_ctx = replace(ctx, seed=seeds[0])
    head = _arm_pass(job, data.train, head_ctx)
    record = head.record

    def timed(
        predict: Callable[[Sequence[Example]], list[Prediction]],
    ) -> tuple[dict[str, Any] | None, dict[str, float]]:
        return measure_latency(
            predict, test, suite.latency.sample, suite.latency.warmup, session.bypass
        )

    record["latency_ms"], timings = timed(head.arm.predict)
    variants = getattr(head.arm, "latency_variants", None)
    if variants is not None:
        record["latency_variants"] = {
            name: timed(predict)[0] for name, predict in variants().items()
        }
    base_predict = getattr(head.arm, "base_predict", None)
    if base_predict is not None:
        record["integrity"] = _integrity(config, head, base_predict, test, observer)
    record["forgetting"], probe_samples = job.meter.for_arm(config, head.arm)
    retrieval_record = getattr(head.arm, "retrieval_record", None)
    retrieval = retrieval_record([e.id for e in test]) if retrieval_record else None
    if retrieval is not None:
        record["retrieval"] = retrieval
    api_record = getattr(head.arm, "api_record", None)
    api = api_record() if api_record else None
    if api is not None:
        record["api"] = api
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
            **({"context": p.extra["context"]} if "context" in p.extra else {}),
            **({"error": p.extra["error"]} if "error" in p.extra else {}),
        }
        for e, p, s in zip(test, head.predictions, head.per_example, strict=True)
    ]
    visible = head.arm.visible_texts()
    del head
    gc.collect()
    if len(seeds) > 1:
        record["seeds"] = _seed_study(job, ctx, seeds, record)
    if sizes:
        record["learning_curve"] = _learning_curve(job, head_ctx, sizes, record)
    return ArmOutcome(record, samples, visible, probe_samples)


def _arm_pass(job: ArmJob, train: Sequence[Example], ctx: RunContext) -> ArmPass:
    """prepare on ``train``, predict and score the whole test split."""
    config, session, observer, test = job.config, job.session, job.observer, job.data.test
    suite = job.loaded.suite
    arm: Arm = get_arm_type(config.type)(config)
    began = time.perf_counter()
    extra = arm.prepare(train, ctx)
    prepare_s = time.perf_counter() - began
    session.reset_stats()
    predictions: list[Prediction] = []
    began = time.perf_counter()
    for batch in _chunks(test, int(getattr(config, "batch_size", 8))):
        predictions.extend(arm.predict(batch))
        observer.advanced(len(batch))
    wall_s = time.perf_counter() - began
    stats = session.reset_stats()
    quality, per_example = score_predictions(
        suite.task.type,
        test,
        predictions,
        suite.primary_metric(),
        suite.metrics.bootstrap_samples,
        suite.sampling.seed,
    )
    compute_s = stats.compute_s if (stats.computed or stats.cached) else wall_s
    record = {
        "type": config.type,
        "n": len(test),
        **quality,
        "latency_ms": None,
        "throughput_eps": round(len(test) / compute_s, 4) if compute_s > 0 else None,
        "prepare_s": round(prepare_s, 3),
        "cache": {"computed": stats.computed, "cached": stats.cached},
        "seed": ctx.seed,
        "config": config.model_dump(mode="json"),
        **extra,
    }
    return ArmPass(arm, record, predictions, per_example)


def _integrity(
    config: ArmConfig,
    head: ArmPass,
    base_predict: Callable[[Sequence[Example]], list[Prediction]],
    test: Sequence[Example],
    observer: RunObserver,
) -> dict[str, Any]:
    sample = int(getattr(config, "integrity_sample", 32))
    threshold = float(getattr(config, "integrity_min_changed", 0.2))
    chosen = list(test[:sample])
    base = base_predict(chosen)
    result = integrity_record(head.predictions[: len(chosen)], base, threshold)
    if not result["ok"]:
        observer.message(
            f"WARNING: arm {config.name}: the tuned model's outputs differ from the base "
            f"model's on only {result['changed_fraction']:.0%} of {result['sample']} test "
            f"examples (threshold {threshold:.0%}). The adapter did (almost) nothing, or was "
            "not applied; its figures are the base model's."
        )
    return result


def _curve_sizes(sizes: list[int | str] | None, n_train: int) -> list[int | None]:
    """Requested sizes as ints; None marks 'the whole split' (the headline pass)."""
    if not sizes:
        return []
    out: list[int | None] = []
    for size in sizes:
        value = None if size == "all" or int(size) >= n_train else int(size)
        if value not in out:
            out.append(value)
    return out


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    training = record.get("training") or {}
    return {
        "quality": record["quality"],
        "n_train": training.get("train_examples"),
        "training": {
            k: training.get(k)
            for k in ("steps", "epochs", "wall_s", "examples_per_s", "best_dev_metric", "reused")
        }
        if training
        else None,
    }


def _seed_study(
    job: ArmJob, ctx: RunContext, seeds: list[int], head_record: dict[str, Any]
) -> dict[str, Any]:
    per_seed = [{"seed": seeds[0], **_summary(head_record)}]
    for seed in seeds[1:]:
        job.observer.message(f"{job.config.name}: seed {seed}")
        run = _arm_pass(job, job.data.train, replace(ctx, seed=seed, variant=f"@seed{seed}"))
        per_seed.append({"seed": seed, **_summary(run.record)})
        del run
        gc.collect()
    values = [float(p["quality"]["value"]) for p in per_seed]
    return {
        "metric": head_record["quality"]["metric"],
        "values": seeds,
        "mean": round(statistics.fmean(values), 6),
        "std": round(statistics.stdev(values), 6) if len(values) > 1 else 0.0,
        "per_seed": per_seed,
    }


def _learning_curve(
    job: ArmJob, ctx: RunContext, sizes: list[int | None], head_record: dict[str, Any]
) -> list[dict[str, Any]]:
    """Nested stratified subsets (each smaller one inside the larger), first seed only."""
    stratify = job.loaded.suite.task.type == "classification"
    train = job.data.train
    points = []
    for size in sizes:
        if size is None:
            points.append({"train_size": len(train), **_summary(head_record)})
            continue
        job.observer.message(f"{job.config.name}: learning curve at {size} training examples")
        subset = stratified_sample(train, None, size, ctx.seed, "learning-curve", stratify)
        run = _arm_pass(job, subset, replace(ctx, variant=f"@n{size}"))
        points.append({"train_size": len(subset), **_summary(run.record)})
        del run
        gc.collect()
    return sorted(points, key=lambda p: int(p["train_size"]))


def _model_manifest(generator: CachingGenerator | None) -> dict[str, Any]:
    if generator is None:
        return {"device": None, "model": None}
    inner = generator.inner
    resolved = getattr(inner, "resolved", None)
    return {
        "device": generator.device,
        "device_name": device_name(generator.device),
        "model": {
            "id": getattr(inner, "model_id", None),
            "source": getattr(resolved, "source", None),
            "source_sha256": getattr(resolved, "source_sha256", None),
            "fingerprint": generator.fingerprint,
            "parameters": getattr(inner, "num_parameters", None),
            "dtype": str(getattr(inner, "dtype", "")) or None,
            "load_s": getattr(inner, "load_s", None),
            "prompt_cache_reuse": getattr(inner, "reuse_prompt_cache", None),
        },
    }


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
