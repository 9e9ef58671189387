"""What `tvp compare` prints in plain mode (CI logs, pipes): no raw rich markup, no line over
100 columns, and none of the libraries' progress bars or deprecation warnings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import LORA, REPO, SMALL_PROBE, write_suite
from tunevsprompt.cli.console import (
    PLAIN_WIDTH,
    ConsoleObserver,
    plain_summary,
    print_summary,
    recommendation_text,
)

FIXTURE = REPO / "tests" / "fixtures" / "run-support-bot" / "results.json"
MARKUP = re.compile(r"\[/?(bold|red|green|yellow|dim|italic)[^\]]*\]")


def fixture_results() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def with_long_arm_name(results: dict[str, Any]) -> dict[str, Any]:
    arms = dict(results["arms"])
    first = next(iter(arms))
    arms["a-very-long-arm-name-that-a-user-might-well-write-for-their-own-experiment"] = arms[first]
    return {**results, "arms": arms}


def test_plain_summary_fits_100_columns_and_names_every_arm() -> None:
    results = with_long_arm_name(fixture_results())
    text = plain_summary(results)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= PLAIN_WIDTH
    assert len(lines) == 2 + len(results["arms"])  # title, header, one row per arm
    for name in fixture_results()["arms"]:
        assert any(line.startswith(name + " ") for line in lines), name
    assert any(line.startswith("a-very-long-arm") and "…" in line for line in lines)
    metric = results["task"]["primary_metric"]
    assert f"{metric} [95% CI]" in lines[1]


def test_plain_recommendation_has_no_markup(capsys: pytest.CaptureFixture[str]) -> None:
    results = fixture_results()
    print_summary(ConsoleObserver(plain=True), results)
    err = capsys.readouterr().err
    assert err.strip()
    assert not MARKUP.search(err), err
    assert "\x1b[" not in err  # no ANSI styles either
    assert max(len(line) for line in err.splitlines()) <= PLAIN_WIDTH
    headline = recommendation_text(results).plain.splitlines()[0]
    assert headline in err


def test_recommendation_headline_is_bold_on_a_terminal() -> None:
    text = recommendation_text(fixture_results())
    assert text.plain.startswith(("Recommendation:", "No arm recommended"))
    assert any(span.style == "bold" and span.start == 0 for span in text.spans)


@pytest.mark.slow
def test_compare_prints_clean_plain_output(five_intent_dir: Path, tmp_path: Path) -> None:
    """A real run with every noisy part (the base model's rank scoring, peft's LoRA attach,
    the encoder's shard writer, a forgetting probe) prints nothing it should not."""
    encoder = "  - name: encoder-finetune\n    type: encoder-finetune\n    epochs: 1\n"
    loaded = write_suite(
        five_intent_dir, "console", LORA.format(extra="") + encoder, forgetting=SMALL_PROBE
    )
    env = {**os.environ, "CI": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunevsprompt",
            "compare",
            str(loaded.path),
            "--limit",
            "10",
            "--train-limit",
            "40",
            "--out",
            str(tmp_path / "run"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    lines = output.splitlines()
    assert any(line.startswith(("Recommendation:", "No arm recommended")) for line in lines)
    too_long = [line for line in lines if len(line) > PLAIN_WIDTH]
    assert not too_long, too_long
    assert not MARKUP.search(output), output
    for noise in (
        "Warning",
        "deprecated",
        "it/s]",
        "Writing model shards",
        "Loading weights",
        "\x1b[",
    ):
        assert noise not in output, (noise, output[-3000:])
