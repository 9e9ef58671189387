"""A Generator over an OpenAI-compatible chat-completions endpoint, through the `openai`
client: its own retries (exponential backoff, Retry-After) are the only retry layer; every
HTTP response is counted, so rate limits show in the results even when a retry succeeded."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tunevsprompt.generation.base import DecodingSettings
from tunevsprompt.generation.endpoint import Endpoint, redact
from tunevsprompt.generation.errors import GeneratorError
from tunevsprompt.runfolder.store import content_key
from tunevsprompt.task.types import Generation, Prompt, Scores

CHARS_PER_TOKEN = 4
"""Token estimate for hosted models, whose tokenizer is not here: used only to budget RAG
context. Billed and reported token counts come from the API's `usage`."""

_SLOTS: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def endpoint_slots(base_url: str, concurrency: int) -> threading.BoundedSemaphore:
    """One concurrency limit per base_url, shared by every arm that calls it (the limit
    comes from the suite's `openai:` block, so arms on one endpoint share one value)."""
    with _SLOTS_LOCK:
        key = (base_url, concurrency)
        if key not in _SLOTS:
            _SLOTS[key] = threading.BoundedSemaphore(concurrency)
        return _SLOTS[key]


class RequestLog:
    """Thread-safe counts of what was sent and what came back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        """Calls made by tvp (one per example answered)."""
        self.attempts = 0
        """HTTP requests sent, retries included."""
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.usage_missing = 0
        self.seconds: list[float] = []
        """Wall time of each call, retries included."""

    def on_request(self, _request: Any) -> None:
        with self._lock:
            self.attempts += 1

    def on_response(self, response: Any) -> None:
        with self._lock:
            self.statuses[int(response.status_code)] += 1

    def add(self, error: str | None, usage_missing: bool, seconds: float) -> None:
        with self._lock:
            self.requests += 1
            self.seconds.append(seconds)
            if error is not None:
                self.errors[error.split(":", 1)[0]] += 1
            self.usage_missing += int(usage_missing)

    def record(self) -> dict[str, Any]:
        with self._lock:
            failed = sum(self.errors.values())
            return {
                "requests": self.requests,
                "http_attempts": self.attempts,
                "retries": max(0, self.attempts - self.requests),
                "rate_limited": self.statuses.get(429, 0),
                "server_errors": sum(n for s, n in self.statuses.items() if s >= 500),
                "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
                "errors": failed,
                "error_kinds": dict(sorted(self.errors.items())),
                "usage_missing": self.usage_missing,
            }


def _messages(prompt: Prompt) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in prompt]


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) if text else 0


class HostedGenerator:
    """Implements the Generator Protocol (``score`` excepted: chat-completions endpoints do
    not return the log-likelihood of a given continuation)."""

    def __init__(self, endpoint: Endpoint, api_key: str, client: Any | None = None):
        self.endpoint = endpoint
        self._key = api_key
        self.log = RequestLog()
        self._client = client or self._build_client()
        self._slots = endpoint_slots(endpoint.base_url, endpoint.concurrency)

    def _build_client(self) -> Any:
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise GeneratorError(
                "backend: openai needs the openai package: pip install 'tunevsprompt[openai]'"
            ) from exc
        # openai >= 3 is built on httpx2, earlier releases on httpx: same hooks either way.
        http_client = getattr(openai, "DefaultHttpx2Client", None) or openai.DefaultHttpxClient
        http = http_client(
            event_hooks={"request": [self.log.on_request], "response": [self.log.on_response]}
        )
        return openai.OpenAI(
            api_key=self._key,
            base_url=self.endpoint.base_url,
            timeout=self.endpoint.timeout_s,
            max_retries=self.endpoint.max_retries,
            http_client=http,
        )

    @property
    def fingerprint(self) -> str:
        identity = {"endpoint": self.endpoint.public_url, "model": self.endpoint.model}
        return f"openai:{self.endpoint.model}:{content_key(identity)[:16]}"

    @property
    def device(self) -> str:
        return "api"

    @property
    def context_window(self) -> int | None:
        return self.endpoint.context_window

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def prompt_tokens(self, prompt: Prompt) -> int:
        # A few tokens of chat markup per message, as chat templates add.
        return sum(estimate_tokens(m.content) + 4 for m in prompt)

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores:
        raise GeneratorError(
            f"{self.endpoint.model} at {self.endpoint.public_url} is a chat-completions "
            "endpoint: it cannot score given answers, so this arm must use decide: generate"
        )

    def generate(self, prompts: Sequence[Prompt], settings: DecodingSettings) -> list[Generation]:
        if len(prompts) <= 1:
            return [self._one(p, settings) for p in prompts]
        workers = min(self.endpoint.concurrency, len(prompts))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tvp-api") as pool:
            return list(pool.map(lambda p: self._one(p, settings), prompts))

    def _one(self, prompt: Prompt, settings: DecodingSettings) -> Generation:
        with self._slots:
            began = time.perf_counter()
            generation, usage_missing = self._call(prompt, settings)
            self.log.add(generation.error, usage_missing, time.perf_counter() - began)
        return generation

    def _call(self, prompt: Prompt, settings: DecodingSettings) -> tuple[Generation, bool]:
        import openai

        try:
            response = self._client.chat.completions.create(
                model=self.endpoint.model,
                messages=_messages(prompt),
                max_tokens=settings.max_new_tokens,
                temperature=settings.temperature,
            )
            return self._parse(prompt, response)
        except openai.APITimeoutError:
            return self._failed("timeout", f"no answer within {self.endpoint.timeout_s:g} s"), False
        except openai.RateLimitError as exc:
            return self._failed("rate_limit", self._status_text(exc)), False
        except openai.APIStatusError as exc:
            return self._failed(f"http_{exc.status_code}", self._status_text(exc)), False
        except openai.APIConnectionError as exc:
            return self._failed("connection", str(exc)), False
        except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError) as exc:
            return self._failed("malformed", f"{type(exc).__name__}: {exc}"), False

    def _parse(self, prompt: Prompt, response: Any) -> tuple[Generation, bool]:
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            return self._failed("malformed", "the response has no choices"), False
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            return self._failed("malformed", "the first choice has no text content"), False
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        text = text.strip()  # as local generation returns it
        if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
            return Generation(text, prompt_tokens, completion_tokens), False
        return Generation(text, self.prompt_tokens(prompt), estimate_tokens(text)), True

    def _status_text(self, exc: Any) -> str:
        return f"HTTP {exc.status_code}: {str(getattr(exc, 'message', exc))[:300]}"

    def _failed(self, kind: str, detail: str) -> Generation:
        detail = redact(detail, self._key)
        return Generation("", 0, 0, error=f"{kind}: {detail} (after the client's retries)")
