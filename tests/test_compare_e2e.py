"""End to end on the real packaged model over a Banking77 subset: the run-folder contract,
few-shot beating chance, resume without repeated model calls, and the CLI's exit codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tunevsprompt.cli import main
from tunevsprompt.generation.base import DecodingSettings, Generator
from tunevsprompt.measure.metrics import token_f1
from tunevsprompt.runfolder.versions import RESULTS_SCHEMA_VERSION
from tunevsprompt.runner import RunOptions, load_default_generator, run_compare
from tunevsprompt.suite.loader import LoadedSuite, load_suite
from tunevsprompt.task.types import Generation, Prompt, Scores

pytestmark = pytest.mark.slow


class Recorder:
    """RunObserver that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def unit_started(self, unit: str, total: int) -> None:
        self.events.append(("started", unit))

    def advanced(self, unit: str, count: int) -> None:
        self.events.append(("advanced", count))

    def unit_finished(self, unit: str, reused: bool) -> None:
        self.events.append(("unit finished", (unit, reused)))

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
        self.events.append(("finished", (name, reused)))

    def message(self, text: str) -> None:
        self.events.append(("message", text))


class CountingGenerator:
    """Wraps the real generator, counts model calls, and can simulate a crash after N calls."""

    def __init__(self, inner: Generator, crash_after: int | None = None):
        self.inner = inner
        self.crash_after = crash_after
        self.score_calls = 0
        self.generate_prompts = 0

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
        self.generate_prompts += len(prompts)
        return self.inner.generate(prompts, settings)

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores:
        if self.crash_after is not None and self.score_calls >= self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        self.score_calls += 1
        return self.inner.score(prompt, continuations)


@pytest.fixture(scope="module")
def real_generator(five_intent_dir: Path) -> Generator:
    loaded = load_suite(five_intent_dir / "suite.yaml")
    return load_default_generator(loaded, RunOptions(device="cpu"))


@pytest.fixture(scope="module")
def finished_run(
    five_intent_dir: Path, real_generator: Generator, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    loaded = load_suite(five_intent_dir / "suite.yaml")
    options = RunOptions(
        out=tmp_path_factory.mktemp("run"), cache_dir=tmp_path_factory.mktemp("cache")
    )
    return run_compare(loaded, options, Recorder(), lambda _l, _o: real_generator)


def test_run_folder_matches_the_contract(finished_run: Path) -> None:
    results = json.loads((finished_run / "results.json").read_text())
    assert results["schema_version"] == RESULTS_SCHEMA_VERSION
    assert results["suite"] == "five-intents" and results["run_id"] == finished_run.name
    manifest = results["manifest"]
    for key in (
        "suite_sha256",
        "git_sha",
        "packages",
        "seed",
        "device",
        "started_at",
        "finished_at",
    ):
        assert key in manifest
    assert manifest["device"] == "cpu" and manifest["model"]["parameters"] > 100_000_000
    assert set(results["arms"]) == {"zero-shot", "few-shot"}
    for arm in results["arms"].values():
        assert arm["n"] == 30
        lo, hi = arm["quality"]["ci95"]
        assert lo <= arm["quality"]["value"] <= hi and arm["quality"]["metric"] == "accuracy"
        assert set(arm["metrics"]) == {"accuracy", "macro_f1"}
        assert arm["latency_ms"]["n"] == 4 and arm["latency_ms"]["p50"] > 0
        assert arm["latency_ms"]["p50"] <= arm["latency_ms"]["p95"]
        assert arm["throughput_eps"] > 0
        assert arm["tokens"]["input_mean"] > 20 and arm["tokens"]["output_mean"] >= 1
        assert arm["parse_failure_rate"] == 0.0
    assert len(results["arms"]["few-shot"]["prompting"]["demonstration_ids"]) == 10
    assert results["contamination"]["arms"]["few-shot"]["source_texts"] == 10
    assert results["contamination"]["train"]["source_texts"] == 90
    rows = [json.loads(line) for line in (finished_run / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 60
    for row in rows:
        assert {
            "id",
            "input",
            "target",
            "raw_output",
            "prediction",
            "correct",
            "latency_ms",
            "tokens",
        } <= set(row)
    few = [r for r in rows if r["arm"] == "few-shot"]
    accuracy = sum(r["correct"] for r in few) / len(few)
    assert accuracy == pytest.approx(results["arms"]["few-shot"]["quality"]["value"])
    report = (finished_run / "report.md").read_text()
    assert (
        "| few-shot | few-shot | 30 |" in report
        and "Contamination" in report
        and "Manifest" in report
    )


def test_few_shot_rank_beats_chance_on_five_intents(finished_run: Path) -> None:
    results = json.loads((finished_run / "results.json").read_text())
    few = results["arms"]["few-shot"]["quality"]
    chance = 1 / 5
    assert few["ci95"][0] > chance, few


def test_resume_makes_no_model_call_for_finished_examples(
    five_intent_dir: Path, real_generator: Generator, tmp_path: Path
) -> None:
    loaded: LoadedSuite = load_suite(five_intent_dir / "suite-nolatency.yaml").select_arms(
        ["few-shot"]
    )
    # 15 of the 30 test examples, 6 answered before the crash.
    options = RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache", limit=15)
    crashing = CountingGenerator(real_generator, crash_after=6)
    with pytest.raises(KeyboardInterrupt):
        run_compare(loaded, options, Recorder(), lambda _l, _o: crashing)
    assert crashing.score_calls == 6
    assert not (tmp_path / "run" / "results.json").exists()

    resumed = CountingGenerator(real_generator)
    run_compare(loaded, options, Recorder(), lambda _l, _o: resumed)
    assert resumed.score_calls == 15 - 6
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["arms"]["few-shot"]["cache"] == {"computed": 9, "cached": 6}

    again = CountingGenerator(real_generator)
    recorder = Recorder()
    run_compare(loaded, options, recorder, lambda _l, _o: again)
    assert again.score_calls == 0 and ("finished", ("few-shot", True)) in recorder.events

    fresh = CountingGenerator(real_generator)
    run_compare(
        loaded,
        RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache", limit=15, use_cache=False),
        Recorder(),
        lambda _l, _o: fresh,
    )
    assert fresh.score_calls == 15


def test_generate_mode_parses_labels(
    five_intent_dir: Path, real_generator: Generator, tmp_path: Path
) -> None:
    suite_text = (
        (five_intent_dir / "suite-nolatency.yaml")
        .read_text()
        .replace("decide: rank", "decide: generate")
    )
    path = five_intent_dir / "suite-generate.yaml"
    path.write_text(suite_text)
    loaded = load_suite(path).select_arms(["few-shot"])
    counting = CountingGenerator(real_generator)
    run = run_compare(
        loaded,
        RunOptions(out=tmp_path / "gen", cache_dir=tmp_path / "cache", limit=5),
        Recorder(),
        lambda _l, _o: counting,
    )
    arm = json.loads((run / "results.json").read_text())["arms"]["few-shot"]
    assert counting.generate_prompts == 5 and arm["n"] == 5
    assert sum(arm["parse_counts"].values()) == 5
    assert 0.0 <= arm["parse_failure_rate"] <= 1.0
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    labels = set(json.loads((run / "results.json").read_text())["task"]["labels"])
    assert all(r["prediction"] is None or r["prediction"] in labels for r in rows)


def test_cli_compare_exit_codes(five_intent_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        main,
        [
            "compare",
            str(five_intent_dir / "suite-nolatency.yaml"),
            "--arms",
            "zero-shot",
            "--limit",
            "5",
            "--out",
            str(tmp_path / "cli"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "cli" / "results.json").exists()
    unknown_arm = runner.invoke(
        main, ["compare", str(five_intent_dir / "suite.yaml"), "--arms", "few_shot"]
    )
    assert unknown_arm.exit_code == 2 and "did you mean 'few-shot'" in unknown_arm.output
    bad_device = runner.invoke(
        main,
        [
            "compare",
            str(five_intent_dir / "suite-nolatency.yaml"),
            "--arms",
            "zero-shot",
            "--limit",
            "2",
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "cuda"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
    )
    assert bad_device.exit_code == 3 and "Traceback" not in bad_device.output
    assert not (tmp_path / "cuda" / "results.json").exists()


QA = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Italy?", "Rome"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Germany?", "Berlin"),
    ("What is the capital of Spain?", "Madrid"),
    ("What is the capital of Egypt?", "Cairo"),
]


def test_generation_task_scores_free_text(real_generator: Generator, tmp_path: Path) -> None:
    folder = tmp_path / "qa"
    (folder / "data").mkdir(parents=True)
    rows = [json.dumps({"question": q, "answer": a}) + "\n" for q, a in QA]
    (folder / "data" / "train.jsonl").write_text("".join(rows[:3]))
    (folder / "data" / "test.jsonl").write_text("".join(rows[3:] + rows[:1]))
    (folder / "suite.yaml").write_text(
        "name: capitals\n"
        "task:\n  type: generation\n"
        # One test question is also a train question (this test is not about overlap).
        "  data: {train: data/train.jsonl, test: data/test.jsonl, max_test_overlap: 1}\n"
        "  input_field: question\n  target_field: answer\n"
        "  instruction: You are a helpful assistant. Answer the question in a few words.\n"
        "arms:\n  - {name: zero-shot, type: zero-shot, decide: generate, max_new_tokens: 16}\n"
        "  - {name: few-shot, type: few-shot, k: 2, decide: generate, max_new_tokens: 16}\n"
        "latency: {sample: 0}\n"
    )
    run = run_compare(
        load_suite(folder / "suite.yaml"),
        RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache"),
        Recorder(),
        lambda _l, _o: real_generator,
    )
    results = json.loads((run / "results.json").read_text())
    assert results["task"]["labels"] is None
    for arm in results["arms"].values():
        assert arm["quality"]["metric"] == "token_f1"
        assert set(arm["metrics"]) == {"exact_match", "token_f1", "rouge_l"}
        assert arm["latency_ms"] is None
    rows_out = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for name, arm in results["arms"].items():
        own = [r for r in rows_out if r["arm"] == name]
        for row in own:
            assert row["scores"]["token_f1"] == pytest.approx(
                token_f1(row["raw_output"], row["target"])
            )
        mean_f1 = sum(r["scores"]["token_f1"] for r in own) / len(own)
        assert arm["quality"]["value"] == pytest.approx(mean_f1, abs=1e-6)
    # The real model answers at least some capitals (e.g. "The capital of France is Paris.").
    assert any(r["scores"]["token_f1"] > 0 for r in rows_out), [r["raw_output"] for r in rows_out]


def test_report_is_rendered_from_results_json_alone(finished_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(finished_run / "results.json", copy / "results.json")
    result = CliRunner().invoke(main, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    # Without samples.jsonl the run's own paired comparisons carry the decision.
    assert (copy / "report.md").read_text() == (finished_run / "report.md").read_text()
    again = json.loads((copy / "results.json").read_text())
    original = json.loads((finished_run / "results.json").read_text())
    assert again["comparisons"] == original["comparisons"] != []
    assert again["recommendation"] == original["recommendation"]
    for name in ("report.html", "summary.csv", "costs.xlsx"):
        assert (copy / name).stat().st_size > 0, name
    missing = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert missing.exit_code == 2 and "results.json" in missing.output


def test_sigkill_mid_run_then_rerun_redoes_no_committed_example(
    five_intent_dir: Path, real_generator: Generator, tmp_path: Path
) -> None:
    """A real kill -9 of `tvp compare`: what the cache committed is never recomputed, and no
    results file is left half-written."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    out, cache = tmp_path / "run", tmp_path / "cache"
    suite = str(five_intent_dir / "suite-nolatency.yaml")
    args = ["compare", suite, "--arms", "few-shot", "--out", str(out), "--cache-dir", str(cache)]
    env = {**os.environ, "CI": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tunevsprompt", *args], env=env)
    db = cache / "predictions.sqlite"

    def committed() -> int:
        if not db.exists():
            return 0
        with sqlite3.connect(db, timeout=30) as conn:
            try:
                return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    deadline = time.monotonic() + 240
    while committed() < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = committed()
    assert 5 <= done < 30, done
    with sqlite3.connect(db, timeout=30) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not (out / "results.json").exists()
    assert not list(out.glob(".*.tmp"))

    resumed = CountingGenerator(real_generator)
    loaded = load_suite(five_intent_dir / "suite-nolatency.yaml").select_arms(["few-shot"])
    options = RunOptions(out=out, cache_dir=cache)
    run_compare(loaded, options, Recorder(), lambda _l, _o: resumed)
    assert resumed.score_calls == 30 - done
    results = json.loads((out / "results.json").read_text())
    assert results["arms"]["few-shot"]["cache"] == {"computed": 30 - done, "cached": done}
