"""Running units in one process: prepare the arm, predict and score, time it, check it, and
keep the finished unit in the run folder so that a rerun reuses it."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tunevsprompt import RESULTS_SCHEMA_VERSION
from tunevsprompt.arms.base import Arm, ArmConfig, RunContext, TaskInfo
from tunevsprompt.arms.registry import get_arm_type
from tunevsprompt.data import stratified_sample
from tunevsprompt.errors import SuiteError
from tunevsprompt.evaluate import score_predictions
from tunevsprompt.execution.base import (
    PARTS_DIR,
    ArmsRun,
    GeneratorLoader,
    RunObserver,
    TrainableLoader,
    cache_dir,
    load_default_generator,
    load_hf_generator,
    prediction_cache_path,
)
from tunevsprompt.execution.units import (
    Unit,
    UnitResult,
    effective_config,
    summary,
    training_summary,
)
from tunevsprompt.forgetting.measure import ForgettingMeter
from tunevsprompt.generation.caching import CacheSession, CachingGenerator
from tunevsprompt.generation.device import device_name
from tunevsprompt.integrity import integrity_record
from tunevsprompt.latency import measure_latency
from tunevsprompt.store import PredictionCache, content_key, path_digest, write_json_atomic
from tunevsprompt.suite_loader import LoadedSuite
from tunevsprompt.types import Example, Prediction

if TYPE_CHECKING:
    from tunevsprompt.generation.hf import HFGenerator


class UnitRunner:
    """Runs units here, one after another, sharing one prediction cache, one lazily loaded
    base model and the forgetting meter. Use as a context manager (closes the cache)."""

    def __init__(
        self,
        run: ArmsRun,
        observer: RunObserver,
        generator_loader: GeneratorLoader = load_default_generator,
        trainable_loader: TrainableLoader = load_hf_generator,
    ):
        self.run, self.observer = run, observer
        loaded, options, data = run.loaded, run.options, run.data
        suite = loaded.suite
        self.cache = PredictionCache(prediction_cache_path(options), read=options.use_cache)
        self.session = CacheSession(self.cache)
        self._generator: CachingGenerator | None = None

        def generator() -> CachingGenerator:
            if self._generator is None:
                observer.message(f"loading model {suite.model.id}")
                self._generator = CachingGenerator(generator_loader(loaded, options), self.session)
            return self._generator

        def trainable_base() -> HFGenerator:
            observer.message(f"loading a trainable copy of {suite.model.id}")
            return trainable_loader(loaded, options)

        self.ctx = RunContext(
            TaskInfo(
                suite.task.type,
                suite.task.instruction,
                data.labels,
                suite.primary_metric(),
                suite.task.target_field,
            ),
            suite.sampling.seed,
            run.run_dir,
            generator,
            dev=data.dev,
            cache_dir=cache_dir(options),
            use_cache=options.use_cache,
            load_trainable_base=trainable_base,
            cached=lambda inner: CachingGenerator(inner, self.session),
            log=observer.message,
            data_root=loaded.folder,
            device=options.device or suite.model.device,
            endpoints=suite.openai,
        )
        self.meter = ForgettingMeter(loaded, self.ctx, observer.message)

    def __enter__(self) -> UnitRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cache.close()

    def model_manifest(self) -> dict[str, Any]:
        return _model_manifest(self._generator)

    def run_unit(self, unit: Unit) -> UnitResult:
        """Run the unit, or reuse it whole from the run folder when it finished earlier with
        the same settings. A pass with failed requests is not kept: a rerun asks again."""
        loaded, options = self.run.loaded, self.run.options
        config = effective_config(_arm_config(loaded, unit.arm), unit.params)
        part_path = self.run.run_dir / PARTS_DIR / f"{unit.label}.json"
        key = _part_key(loaded, options, config, unit, self.meter)
        if options.use_cache and part_path.exists():
            part = json.loads(part_path.read_text(encoding="utf-8"))
            if part.get("key") == key:
                self.observer.unit_finished(unit.label, reused=True)
                return UnitResult(
                    unit,
                    part["record"],
                    part.get("samples", []),
                    part.get("visible_texts", []),
                    part.get("probe_samples", []),
                    reused=True,
                )
        job = _Pass(
            loaded,
            config,
            self.run.data.test,
            self.session,
            self.observer,
            unit.label,
            replace(
                self.ctx,
                seed=unit.seed,
                variant=unit.variant,
                config_error=_config_error(loaded, unit.arm),
            ),
        )
        result = _PASSES[unit.kind](job, unit, self)
        result.model = self.model_manifest()
        if result.record.get("errors"):
            kinds = (result.record.get("api") or {}).get("error_kinds") or {}
            named = ", ".join(f"{k} x{n}" for k, n in kinds.items()) or "errors"
            self.observer.message(
                f"WARNING: {unit.label}: {result.record['errors']} of {len(self.run.data.test)} "
                f"requests failed ({named}); they count as wrong answers. "
                "Rerun with the same --out to ask them again."
            )
        else:
            write_json_atomic(
                part_path,
                {
                    "key": key,
                    "record": result.record,
                    "samples": result.samples,
                    "visible_texts": result.visible_texts,
                    "probe_samples": result.probe_samples,
                },
            )
        self.observer.unit_finished(unit.label, reused=False)
        return result


def _arm_config(loaded: LoadedSuite, name: str) -> ArmConfig:
    return next(a for a in loaded.arms if a.name == name)


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
    loaded: LoadedSuite, options: Any, config: ArmConfig, unit: Unit, meter: ForgettingMeter
) -> str:
    """Everything a unit's result depends on. The arm's list of seeds, its learning-curve
    sizes and its sweep are left out: each pass is its own unit, so adding a seed reuses
    the passes that finished."""
    suite = loaded.suite
    return content_key(
        {
            "arm": config.model_dump(mode="json", exclude={"seeds", "train_sizes", "sweep"}),
            "pass": {"kind": unit.kind, "seed": unit.seed, "size": unit.size},
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


@dataclass
class _Pass:
    """What one pass of an arm needs."""

    loaded: LoadedSuite
    config: ArmConfig
    test: Sequence[Example]
    session: CacheSession
    observer: RunObserver
    label: str
    ctx: RunContext


@dataclass
class _Scored:
    arm: Arm
    record: dict[str, Any]
    predictions: list[Prediction]
    per_example: list[dict[str, float]]


def _chunks(items: Sequence[Example], size: int) -> list[Sequence[Example]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _prepare(job: _Pass, train: Sequence[Example]) -> tuple[Arm, dict[str, Any], float]:
    arm: Arm = get_arm_type(job.config.type)(job.config)
    began = time.perf_counter()
    extra = arm.prepare(train, job.ctx)
    return arm, extra, time.perf_counter() - began


def _predict_and_score(
    job: _Pass, arm: Arm, examples: Sequence[Example]
) -> tuple[list[Prediction], dict[str, Any], list[dict[str, float]], float, Any]:
    """Predict ``examples`` in the arm's batches (reporting progress) and score them."""
    suite = job.loaded.suite
    job.session.reset_stats()
    predictions: list[Prediction] = []
    began = time.perf_counter()
    for batch in _chunks(examples, int(getattr(job.config, "batch_size", 8))):
        predictions.extend(arm.predict(batch))
        job.observer.advanced(job.label, len(batch))
    wall_s = time.perf_counter() - began
    stats = job.session.reset_stats()
    quality, per_example = score_predictions(
        suite.task.type,
        examples,
        predictions,
        suite.primary_metric(),
        suite.metrics.bootstrap_samples,
        suite.sampling.seed,
    )
    return predictions, quality, per_example, wall_s, stats


def _test_pass(job: _Pass, train: Sequence[Example]) -> _Scored:
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


def _head_pass(job: _Pass, unit: Unit, runner: UnitRunner) -> UnitResult:
    """The headline pass (first seed, whole train split) with its latency, integrity check,
    forgetting probes and per-example samples."""
    suite, test, config = job.loaded.suite, job.test, job.config
    head = _test_pass(job, runner.run.data.train)
    record = head.record

    def timed(
        predict: Callable[[Sequence[Example]], list[Prediction]],
    ) -> tuple[dict[str, Any] | None, dict[str, float]]:
        return measure_latency(
            predict, test, suite.latency.sample, suite.latency.warmup, job.session.bypass
        )

    record["latency_ms"], timings = timed(head.arm.predict)
    variants = getattr(head.arm, "latency_variants", None)
    if variants is not None:
        record["latency_variants"] = {
            name: timed(predict)[0] for name, predict in variants().items()
        }
    base_predict = getattr(head.arm, "base_predict", None)
    if base_predict is not None:
        record["integrity"] = _integrity(config, head, base_predict, test, job.observer)
    record["forgetting"], probe_samples = runner.meter.for_arm(config, head.arm)
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
    return UnitResult(unit, record, samples, visible, probe_samples)


def _seed_pass(job: _Pass, unit: Unit, runner: UnitRunner) -> UnitResult:
    """The whole train split with another seed: the seed study's figures."""
    job.observer.message(f"{unit.arm}: seed {unit.seed}")
    scored = _test_pass(job, runner.run.data.train)
    record = {"seed": unit.seed, **summary(scored.record)}
    errors = scored.record.get("errors")
    del scored
    gc.collect()
    return UnitResult(unit, {**record, **({"errors": errors} if errors else {})})


def _size_pass(job: _Pass, unit: Unit, runner: UnitRunner) -> UnitResult:
    """A nested stratified subset of the train split (each smaller one inside the larger)."""
    assert unit.size is not None
    job.observer.message(f"{unit.arm}: learning curve at {unit.size} training examples")
    stratify = job.loaded.suite.task.type == "classification"
    subset = stratified_sample(
        runner.run.data.train, None, unit.size, unit.seed, "learning-curve", stratify
    )
    scored = _test_pass(job, subset)
    record = {"train_size": len(subset), **summary(scored.record)}
    errors = scored.record.get("errors")
    del scored
    gc.collect()
    return UnitResult(unit, {**record, **({"errors": errors} if errors else {})})


def _trial_pass(job: _Pass, unit: Unit, runner: UnitRunner) -> UnitResult:
    """One sweep trial: train with the trial's settings, score the primary metric on the
    dev sample the training was evaluated on. The test split is not touched."""
    if not runner.run.data.dev:
        raise job.ctx.config_error(
            "sweep",
            "a sweep picks its trial on the dev split, and this run's dev split is empty",
            "give task.data.dev, or a task.data.dev_fraction above 0",
        )
    from tunevsprompt.arms.tuning import TrainingDiverged

    job.observer.message(f"{unit.arm}: sweep trial {unit.trial}: {unit.params}")
    try:
        arm, extra, _ = _prepare(job, runner.run.data.train)
    except TrainingDiverged as diverged:
        # A setting that diverges is a result of the sweep, not a failure of the run.
        job.observer.message(f"{unit.label}: {diverged}")
        record = {"trial": unit.trial, "params": unit.params, "dev": None}
        return UnitResult(unit, {**record, "diverged": str(diverged)})
    dev = list(getattr(arm, "dev_sample", None) or runner.run.data.dev)
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


_PASSES: dict[str, Callable[[_Pass, Unit, UnitRunner], UnitResult]] = {
    "head": _head_pass,
    "seed": _seed_pass,
    "size": _size_pass,
    "trial": _trial_pass,
}


def _integrity(
    config: ArmConfig,
    head: _Scored,
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
