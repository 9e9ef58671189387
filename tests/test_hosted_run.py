"""`tvp compare` with arms on an OpenAI-compatible endpoint (a scripted local server): error
rows and the error rate, the `api` record and token-priced costs, resume that re-asks only
what failed, a rerun that makes no call at all, and a sentinel key in no output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fake_openai import FakeOpenAI, Reply, completion, last_user_text, status
from tunevsprompt.cli import main

pytest.importorskip("openai")

SENTINEL = "sk-tvp-SENTINEL-run-0123456789"

TRAIN = [
    ("I want my money back for this order", "refund"),
    ("please refund the duplicate charge", "refund"),
    ("how do I get a refund", "refund"),
    ("what is my balance", "balance"),
    ("show my account balance please", "balance"),
    ("how much money is in my account", "balance"),
]
TEST = [
    ("refund my last payment", "refund"),
    ("can I have a refund for the shoes", "refund"),
    ("refund the fee FAIL", "refund"),
    ("current balance?", "balance"),
    ("tell me my balance", "balance"),
    ("balance of savings FAIL", "balance"),
]

SUITE = """\
name: hosted-demo
task:
  type: classification
  data: {{train: train.jsonl, test: test.jsonl}}
  input_field: text
  target_field: label
  instruction: Name the intent.
openai:
  base_url: {base_url}
  model: fake-model
  api_key_env: TVP_TEST_API_KEY
  max_retries: 0
  concurrency: 2
arms:
  - {{name: api-zero-shot, type: zero-shot, backend: openai}}
  - {{name: api-few-shot, type: few-shot, k: 4, backend: openai}}
latency: {{sample: 0}}
pricing:
  api: {{fake-model: {{input_usd_per_mtok: 1.0, output_usd_per_mtok: 4.0}}}}
"""


def _write(folder: Path, base_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", TRAIN), ("test", TEST)):
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows)
        )
    suite = folder / "suite.yaml"
    suite.write_text(SUITE.format(base_url=base_url))
    return suite


class Script:
    """Answers by keyword; inputs marked FAIL get a 500 while ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = True

    def __call__(self, request: dict[str, Any]) -> Reply:
        text = last_user_text(request)
        if self.failing and "FAIL" in text:
            return status(500, f"upstream error (key {SENTINEL})")
        return completion("Refund" if "refund" in text.lower() else "balance", 40, 2)


def _compare(suite: Path, out: Path, cache: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        main,
        ["compare", str(suite), "--out", str(out), "--cache-dir", str(cache), *extra],
    )


def test_hosted_arms_record_errors_resume_and_never_leak_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TVP_TEST_API_KEY", SENTINEL)
    script = Script()
    out, cache = tmp_path / "run", tmp_path / "cache"
    with FakeOpenAI(script) as server:
        suite = _write(tmp_path / "suite", server.base_url)
        first = _compare(suite, out, cache)
        assert first.exit_code == 0, first.output
        assert len(server.requests) == 12  # 6 test examples x 2 arms, no retries
        results = json.loads((out / "results.json").read_text())
        for name in ("api-zero-shot", "api-few-shot"):
            arm = results["arms"][name]
            assert arm["errors"] == 2 and arm["error_rate"] == pytest.approx(2 / 6)
            assert arm["quality"]["value"] == pytest.approx(4 / 6)  # errors score as wrong
            assert arm["prompting"]["decide"] == "generate"
            api = arm["api"]
            assert api["model"] == "fake-model" and api["base_url"] == server.base_url
            assert api["requests"] == 6 and api["error_kinds"] == {"http_500": 2}
            assert api["api_key_env"] == "TVP_TEST_API_KEY"
            # Tokens from the API's usage (answered requests only), priced from the suite.
            assert arm["tokens"]["input_mean"] == 40 and arm["tokens"]["output_mean"] == 2
            per_request = arm["cost"]["basis"]["per_request"]
            assert per_request["kind"] == "api-tokens"
            assert arm["cost"]["per_1k_requests_usd"] == pytest.approx(
                1000 * (40 * 1.0 + 2 * 4.0) / 1e6
            )
        rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
        failed = [r for r in rows if "error" in r]
        assert len(failed) == 4 and all(r["parse"] == "error" for r in failed)
        assert all(r["prediction"] is None and r["correct"] is False for r in failed)
        assert not (out / "parts" / "api-zero-shot.json").exists(), "a failed arm was kept"
        report = (out / "report.md").read_text()
        assert "Hosted endpoints" in report and "http_500 ×2" in report
        assert 'id="hosted-table"' in (out / "report.html").read_text()
        assert "openai" in (out / "summary.csv").read_text()
        assert "2 of 6 requests failed (http_500 x2)" in first.output

        # Resume: only the failed examples are asked again.
        script.failing = False
        second = _compare(suite, out, cache)
        assert second.exit_code == 0, second.output
        assert len(server.requests) == 12 + 4
        results = json.loads((out / "results.json").read_text())
        assert {a["errors"] for a in results["arms"].values()} == {0}
        assert {a["quality"]["value"] for a in results["arms"].values()} == {1.0}

        # Same suite, same run folder: no call at all.
        third = _compare(suite, out, cache)
        assert third.exit_code == 0, third.output
        assert len(server.requests) == 16

        gate = CliRunner().invoke(main, ["gate", str(out), "--max-error-rate", "0"])
        assert gate.exit_code == 0, gate.output

    outputs = [first.output, second.output, third.output, gate.output]
    assert not any(SENTINEL in text for text in outputs)
    for path in [*out.rglob("*"), *cache.rglob("*")]:
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_a_remote_endpoint_without_its_key_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TVP_TEST_API_KEY", raising=False)
    suite = _write(tmp_path / "suite", "https://api.example.invalid/v1")
    result = _compare(suite, tmp_path / "run", tmp_path / "cache")
    assert result.exit_code == 2, result.output
    assert "TVP_TEST_API_KEY" in result.output and "api_key_env" in result.output
    assert not (tmp_path / "run" / "results.json").exists()


def test_hosted_keys_are_checked_at_load_time(tmp_path: Path) -> None:
    suite = _write(tmp_path / "suite", "http://127.0.0.1:9/v1")
    text = suite.read_text()
    suite.write_text(
        text.replace("  model: fake-model\n", "").replace(
            "{name: api-few-shot, type: few-shot, k: 4, backend: openai}",
            "{name: api-few-shot, type: few-shot, k: 4, backend: openai, decide: rank}\n"
            "  - {name: local, type: zero-shot, base_url: http://x}",
        )
    )
    result = CliRunner().invoke(main, ["validate", str(suite)])
    assert result.exit_code == 2
    assert "arms[1].decide" in result.output and "cannot rank" in result.output
    assert "arms[2].base_url" in result.output and "only used with backend: openai" in result.output
    suite.write_text(text.replace("  model: fake-model\n", ""))
    result = CliRunner().invoke(main, ["validate", str(suite)])
    assert result.exit_code == 2
    assert "arms[0].backend" in result.output and "needs a model name" in result.output
