"""A Generator wrapper that answers from the prediction cache and stores what it computes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from tunevsprompt.generation.base import DecodingSettings, Generator, TextScorer
from tunevsprompt.generation.errors import GeneratorError
from tunevsprompt.runfolder.store import PredictionCache, content_key
from tunevsprompt.task.types import Generation, Prompt, Scores, WindowNLL


@dataclass
class CallStats:
    """What one arm's pass cost. ``compute_s`` includes the recorded compute time of cached
    answers, so throughput stays comparable between a fresh run and a resumed one."""

    computed: int = 0
    cached: int = 0
    compute_s: float = 0.0


def _prompt_payload(prompt: Prompt) -> list[list[str]]:
    return [[m.role, m.content] for m in prompt]


class CacheSession:
    """One prediction cache with the call statistics and the bypass switch shared by every
    generator of a run (the base model and each tuned model), so the runner can count and
    time an arm's pass without knowing which generator the arm used."""

    def __init__(self, cache: PredictionCache):
        self.cache = cache
        self.stats = CallStats()
        self.bypassed = False

    @contextlib.contextmanager
    def bypass(self) -> Iterator[None]:
        """Neither read nor write the cache (latency timing must run the model)."""
        self.bypassed, saved = True, self.bypassed
        try:
            yield
        finally:
            self.bypassed = saved

    def reset_stats(self) -> CallStats:
        stats, self.stats = self.stats, CallStats()
        return stats


class CachingGenerator:
    """Implements the Generator Protocol over another generator and a cache session."""

    def __init__(self, inner: Generator, session: CacheSession):
        self.inner = inner
        self.session = session
        self.cache = session.cache

    @property
    def stats(self) -> CallStats:
        return self.session.stats

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def device(self) -> str:
        return self.inner.device

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def prompt_tokens(self, prompt: Prompt) -> int:
        return self.inner.prompt_tokens(prompt)

    @property
    def context_window(self) -> int | None:
        return self.inner.context_window

    def generate(self, prompts: Sequence[Prompt], settings: DecodingSettings) -> list[Generation]:
        if self.session.bypassed:
            return self.inner.generate(prompts, settings)
        keys = [
            content_key(
                {
                    "op": "generate",
                    "model": self.fingerprint,
                    "prompt": _prompt_payload(p),
                    "decoding": settings.cache_key(),
                }
            )
            for p in prompts
        ]
        results: list[Generation | None] = []
        for key in keys:
            hit = self.cache.get(key)
            results.append(Generation(**hit["result"]) if hit else None)
            if hit:
                self.stats.cached += 1
                self.stats.compute_s += hit["compute_s"]
        missing = [i for i, r in enumerate(results) if r is None]
        for start in range(0, len(missing), settings.batch_size):
            chunk = missing[start : start + settings.batch_size]
            began = time.perf_counter()
            fresh = self.inner.generate([prompts[i] for i in chunk], settings)
            per_item = (time.perf_counter() - began) / len(chunk)
            # A failed request is never cached: the next run asks again.
            self.cache.put_many(
                (keys[i], {"result": asdict(g), "compute_s": per_item})
                for i, g in zip(chunk, fresh, strict=True)
                if g.error is None
            )
            for i, g in zip(chunk, fresh, strict=True):
                results[i] = g
            self.stats.computed += len(chunk)
            self.stats.compute_s += per_item * len(chunk)
        return [r for r in results if r is not None]

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores:
        if self.session.bypassed:
            return self.inner.score(prompt, continuations)
        key = content_key(
            {
                "op": "score",
                "model": self.fingerprint,
                "prompt": _prompt_payload(prompt),
                "continuations": list(continuations),
            }
        )
        hit = self.cache.get(key)
        if hit:
            self.stats.cached += 1
            self.stats.compute_s += hit["compute_s"]
            return Scores(**hit["result"])
        began = time.perf_counter()
        scores = self.inner.score(prompt, continuations)
        elapsed = time.perf_counter() - began
        self.cache.put_many([(key, {"result": asdict(scores), "compute_s": elapsed})])
        self.stats.computed += 1
        self.stats.compute_s += elapsed
        return scores

    def text_nll(self, text: str, window: int, max_tokens: int | None) -> list[WindowNLL]:
        """The inner model's ``text_nll``, cached as one entry per (model, text, windowing)."""
        if not isinstance(self.inner, TextScorer):
            raise GeneratorError(
                f"{type(self.inner).__name__} cannot score plain text, so it cannot run a "
                "perplexity probe"
            )
        if self.session.bypassed:
            return self.inner.text_nll(text, window, max_tokens)
        key = content_key(
            {
                "op": "text_nll",
                "model": self.fingerprint,
                "text": text,
                "window": window,
                "max_tokens": max_tokens,
            }
        )
        hit = self.cache.get(key)
        if hit:
            self.stats.cached += 1
            self.stats.compute_s += hit["compute_s"]
            return [WindowNLL(**w) for w in hit["result"]]
        began = time.perf_counter()
        windows = self.inner.text_nll(text, window, max_tokens)
        elapsed = time.perf_counter() - began
        self.cache.put_many([(key, {"result": [asdict(w) for w in windows], "compute_s": elapsed})])
        self.stats.computed += 1
        self.stats.compute_s += elapsed
        return windows
