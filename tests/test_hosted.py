"""The hosted-endpoint generator against a real local HTTP server: retries (bounded, honouring
Retry-After), error rows for 500s, timeouts and malformed bodies, nothing failed is cached,
token counts from `usage`, and the key never in an error message."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fake_openai import FakeOpenAI, Reply, completion, status
from tunevsprompt.generation.base import DecodingSettings
from tunevsprompt.generation.caching import CacheSession, CachingGenerator
from tunevsprompt.generation.endpoint import (
    EndpointDefaults,
    HostedArmKeys,
    public_url,
    redact,
    resolve_endpoint,
)
from tunevsprompt.generation.hosted import HostedGenerator
from tunevsprompt.runfolder.store import PredictionCache
from tunevsprompt.task.types import Message

pytest.importorskip("openai")

SENTINEL = "sk-tvp-SENTINEL-0123456789"
PROMPT = (Message("system", "Answer in one word."), Message("user", "Capital of France?"))
GREEDY = DecodingSettings(max_new_tokens=8)


def generator(server: FakeOpenAI, **overrides: Any) -> HostedGenerator:
    defaults = EndpointDefaults(
        base_url=server.base_url, model="fake-model", **{"max_retries": 2, **overrides}
    )
    endpoint = resolve_endpoint(defaults, HostedArmKeys(backend="openai"))
    assert endpoint is not None
    return HostedGenerator(endpoint, SENTINEL)


def test_an_answer_carries_the_apis_token_counts_and_the_key_goes_as_a_bearer_header() -> None:
    with FakeOpenAI(lambda _r: completion("Paris", 21, 2)) as server:
        (out,) = generator(server).generate([PROMPT], GREEDY)
    assert (out.text, out.input_tokens, out.output_tokens, out.error) == ("Paris", 21, 2, None)
    request = server.requests[0]
    assert request["model"] == "fake-model" and request["temperature"] == 0.0
    assert request["max_tokens"] == 8
    assert request["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
    ]
    headers = {k.lower(): v for k, v in server.headers[0].items()}
    assert headers["authorization"] == f"Bearer {SENTINEL}"


def test_429_with_retry_after_is_retried_after_the_servers_delay_and_counted() -> None:
    calls: list[float] = []

    def behave(_r: dict[str, Any]) -> Reply:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return status(429, "slow down", {"Retry-After": "1"})
        return completion("Paris")

    with FakeOpenAI(behave) as server:
        hosted = generator(server)
        (out,) = hosted.generate([PROMPT], GREEDY)
    assert out.text == "Paris" and out.error is None
    assert calls[1] - calls[0] >= 0.9, "Retry-After: 1 was not honoured"
    record = hosted.log.record()
    assert record["requests"] == 1 and record["http_attempts"] == 2 and record["retries"] == 1
    assert record["rate_limited"] == 1 and record["errors"] == 0


def test_500_is_retried_a_bounded_number_of_times_then_recorded_and_never_cached(
    tmp_path: Path,
) -> None:
    # The server echoes the key in its error, as some gateways do: it must not come back.
    with FakeOpenAI(lambda _r: status(500, f"boom for key {SENTINEL}")) as server:
        hosted = generator(server, max_retries=1)
        with PredictionCache(tmp_path / "cache.sqlite") as cache:
            cached = CachingGenerator(hosted, CacheSession(cache))
            (out,) = cached.generate([PROMPT], GREEDY)
            assert len(server.requests) == 2  # one try + one retry, then give up
            (again,) = cached.generate([PROMPT], GREEDY)
            assert again.error is not None
            assert len(server.requests) == 4, "a failed answer was served from the cache"
    assert out.text == "" and out.error is not None and out.error.startswith("http_500")
    assert SENTINEL not in out.error and "***" in out.error
    assert SENTINEL.encode() not in (tmp_path / "cache.sqlite").read_bytes()
    record = hosted.log.record()
    assert record["errors"] == 2 and record["error_kinds"] == {"http_500": 2}
    assert record["server_errors"] == 4


def test_a_timeout_is_retried_then_recorded() -> None:
    with FakeOpenAI(lambda _r: completion("late"), delay_s=lambda _r: 1.5) as server:
        hosted = generator(server, timeout_s=0.3, max_retries=1)
        (out,) = hosted.generate([PROMPT], GREEDY)
    assert out.error is not None and out.error.startswith("timeout")
    assert len(server.requests) == 2
    assert hosted.log.record()["error_kinds"] == {"timeout": 1}


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"Content-Type": "application/json"}, b"{not json"),
        (200, {"Content-Type": "application/json"}, b'{"choices": []}'),
        (200, {"Content-Type": "text/plain"}, b"hello"),
    ],
    ids=["broken-json", "no-choices", "plain-text"],
)
def test_a_malformed_body_is_an_error_row_not_an_answer(reply: Reply, tmp_path: Path) -> None:
    with FakeOpenAI(lambda _r: reply) as server:
        with PredictionCache(tmp_path / "cache.sqlite") as cache:
            cached = CachingGenerator(generator(server), CacheSession(cache))
            (out,) = cached.generate([PROMPT], GREEDY)
            assert out.error is not None and out.text == "", out
            cached.generate([PROMPT], GREEDY)
        assert len(server.requests) == 2, "a malformed answer was cached"


def test_requests_run_concurrently_up_to_the_endpoints_limit() -> None:
    in_flight, peak = [0], [0]

    def delay(_r: dict[str, Any]) -> float:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        return 0.2

    def behave(_r: dict[str, Any]) -> Reply:
        in_flight[0] -= 1
        return completion("ok")

    with FakeOpenAI(behave, delay) as server:
        hosted = generator(server, concurrency=3)
        outs = hosted.generate([PROMPT] * 7, GREEDY)
    assert [o.text for o in outs] == ["ok"] * 7
    assert peak[0] == 3


def test_endpoint_resolution_and_what_may_be_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = EndpointDefaults(model="gpt-4o-mini", api_key_env="TVP_TEST_KEY")
    arm = HostedArmKeys(backend="openai", base_url="https://user:pw@gw.example/v1/?token=x")
    endpoint = resolve_endpoint(defaults, arm)
    assert endpoint is not None and endpoint.model == "gpt-4o-mini"
    assert endpoint.public_url == "https://gw.example/v1/"
    monkeypatch.delenv("TVP_TEST_KEY", raising=False)
    assert endpoint.api_key() is None  # remote and no key: the caller must say which to set
    local = resolve_endpoint(
        defaults, HostedArmKeys(backend="openai", base_url="http://127.0.0.1:9/v1")
    )
    assert local is not None and local.api_key() == "not-needed"
    monkeypatch.setenv("TVP_TEST_KEY", SENTINEL)
    assert endpoint.api_key() == SENTINEL
    assert resolve_endpoint(defaults, HostedArmKeys()) is None
    assert HostedArmKeys(model="x").hosted_key_problems() == [
        ("model", "is only used with backend: openai")
    ]
    assert public_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact(f"a {SENTINEL} b", SENTINEL) == "a *** b"
