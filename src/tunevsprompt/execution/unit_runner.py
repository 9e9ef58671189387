"""Running units in one process: the run's shared services (prediction cache, base model,
forgetting meter), and keeping each finished unit in the run folder so that a rerun reuses it.
What each kind of pass computes is in ``passes``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tunevsprompt.arms.base import ArmConfig, FanOut, RunContext, RunsJobs, TaskInfo
from tunevsprompt.arms.registry import get_arm_type
from tunevsprompt.errors import RunError, SuiteError
from tunevsprompt.execution.base import (
    PARTS_DIR,
    ArmsRun,
    GeneratorLoader,
    ObserverProgress,
    RunObserver,
    TrainableLoader,
    cache_dir,
    load_default_generator,
    load_hf_generator,
    prediction_cache_path,
)
from tunevsprompt.execution.part_key import matching_part, part_key
from tunevsprompt.execution.passes import PASSES, Pass
from tunevsprompt.execution.units import Unit, UnitResult, effective_config
from tunevsprompt.forgetting.measure import ForgettingMeter
from tunevsprompt.generation.caching import CacheSession, CachingGenerator
from tunevsprompt.generation.device import device_name
from tunevsprompt.runfolder.store import (
    PredictionCache,
    write_json_atomic,
)
from tunevsprompt.suite.loader import LoadedSuite

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
        fan_out_for: Callable[[Unit], FanOut] | None = None,
    ):
        """``fan_out_for``: where a unit's arm runs its jobs (a cluster's workers); None:
        in this process."""
        self.run, self.observer = run, observer
        self.fan_out_for = fan_out_for
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
            arms=loaded.all_arms,
            progress=ObserverProgress(observer),
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
        key = part_key(loaded, options, config, unit, self.meter.identity)
        part = matching_part(part_path, key, options)
        if part is not None:
            self.observer.unit_finished(unit.label, reused=True)
            return UnitResult(
                unit,
                part["record"],
                part.get("samples", []),
                part.get("visible_texts", []),
                part.get("probe_samples", []),
                reused=True,
            )
        job = Pass(
            loaded,
            config,
            self.run.data.test,
            self.session,
            self.observer,
            unit.label,
            self.unit_context(unit),
            self.run.data.train,
            self.run.data.dev,
            self.meter,
        )
        result = PASSES[unit.kind](job, unit)
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

    def unit_context(self, unit: Unit) -> RunContext:
        """The run's context as this unit's arm sees it (its seed, its errors' location,
        and where its jobs run)."""
        return replace(
            self.ctx,
            seed=unit.seed,
            variant=unit.variant,
            config_error=_config_error(self.run.loaded, unit.arm),
            fan_out=self.fan_out_for(unit) if self.fan_out_for is not None else None,
        )

    def worker_arm(self, unit: Unit) -> RunsJobs:
        """The unit's arm opened to run its jobs here (a prompt search's candidates, on a
        worker of a cluster) without preparing it."""
        config = effective_config(_arm_config(self.run.loaded, unit.arm), unit.params)
        arm = get_arm_type(config.type)(config)
        if not isinstance(arm, RunsJobs):
            raise RunError(f"arm {unit.arm} ({config.type}) has no jobs to run on workers")
        ctx = replace(self.unit_context(unit), fan_out=None)
        arm.open_worker(self.run.data.train, ctx)
        return arm


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
