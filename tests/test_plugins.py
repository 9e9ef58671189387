"""The public extension API: a third-party arm and metric installed as a package (entry
points, found by importlib.metadata) and run by `tvp compare`; the same registered in-process;
names that collide with a built-in refused; and `import tunevsprompt` staying cheap.

The plugin is the example of docs/arms/custom.md: a keyword (naive Bayes) classifier that
needs no model, so these runs take seconds."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest

from helpers import BANKING_TASK, REPO, SilentObserver, banking_rows, subset, write_csv
from tunevsprompt import (
    ArmConfig,
    Example,
    Message,
    Metric,
    Prediction,
    Prompt,
    RegistryError,
    RunContext,
    RunOptions,
    Scores,
    SuiteError,
    load_suite,
    register_arm,
    register_metric,
    run_compare,
    unregister_arm,
    unregister_metric,
)
from tunevsprompt.arms import registry
from tunevsprompt.measure import metric_registry

CUSTOM_ARMS_PAGE = REPO / "docs" / "arms" / "custom.md"


def doc_block(title: str) -> str:
    """The code block titled ``title`` on the "Write your own arm" page."""
    text = CUSTOM_ARMS_PAGE.read_text(encoding="utf-8")
    match = re.search(rf'^```\w+ title="{re.escape(title)}"\n(.*?)^```$', text, re.M | re.S)
    assert match, f"no code block titled {title} in {CUSTOM_ARMS_PAGE}"
    return match.group(1)


PLUGIN_SOURCE = doc_block("keyword_plugin.py")
PLUGIN_PYPROJECT = doc_block("pyproject.toml")
PLUGIN_ENTRY_POINTS = doc_block("entry_points.txt")

INTENTS = [
    "card_arrival",
    "card_delivery_estimate",
    "card_not_working",
    "exchange_rate",
    "exchange_charge",
    "top_up_failed",
    "top_up_limits",
    "terminate_account",
]
"""Intents with near misses (card_*, exchange_*, top_up_*), for the partial-credit metric."""

SUITE = (
    "name: keyword-plugin\n"
    + BANKING_TASK
    + """\
arms:
  - name: keyword
    type: keyword
    train_sizes: [16]
  - name: keyword-sharp
    type: keyword
    smoothing: 0.1
sampling:
  seed: 0
latency:
  sample: 4
  warmup: 1
metrics:
  primary: partial_credit
  bootstrap_samples: 500
"""
)


def write_plugin(folder: Path, entry_points: str | None = PLUGIN_ENTRY_POINTS) -> Path:
    """The plugin's module in ``folder``, and with ``entry_points`` its installed metadata
    (a ``*.dist-info`` beside it, as pip would leave it), so that importlib.metadata finds
    it on a path that includes ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keyword_plugin.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    if entry_points is not None:
        info = folder / "keyword_plugin-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: keyword-plugin\nVersion: 0.1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
        (info / "top_level.txt").write_text("keyword_plugin\n", encoding="utf-8")
    return folder


def entry_point_sections(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # keep the names as written
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


def install_plugin(folder: Path) -> Path:
    """The page's plugin as a package (its module and pyproject.toml) in ``folder/package``,
    built and installed by pip into ``folder/site``, which is returned. Offline: no index and
    no build isolation, so setuptools comes from this environment."""
    package = folder / "package"
    package.mkdir(parents=True)
    (package / "keyword_plugin.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    (package / "pyproject.toml").write_text(PLUGIN_PYPROJECT, encoding="utf-8")
    site = folder / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    built = subprocess.run(
        [*pip, "--no-build-isolation", "--target", str(site), str(package)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return site


def write_suite_folder(folder: Path, suite: str = SUITE) -> Path:
    """8 intents, 12 training and 4 test messages each."""
    write_csv(folder / "data" / "train.csv", subset(banking_rows("train"), INTENTS, 12, seed=1))
    write_csv(folder / "data" / "test.csv", subset(banking_rows("test"), INTENTS, 4, seed=2))
    path = folder / "suite.yaml"
    path.write_text(suite, encoding="utf-8")
    return path


def tvp(args: list[str], plugin_dir: Path) -> subprocess.CompletedProcess[str]:
    """`tvp` in a fresh process whose path includes ``plugin_dir``."""
    path = os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "CI": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tunevsprompt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def read_run(run: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    lines = (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return results, [json.loads(line) for line in lines]


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The plugin's module imported in this process (no metadata, so no entry point)."""
    import importlib

    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "src", entry_points=None)))
    module = importlib.import_module("keyword_plugin")
    yield module
    sys.modules.pop("keyword_plugin", None)


@pytest.fixture
def fresh_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registries with nothing discovered or registered yet, restored after the test."""
    monkeypatch.setattr(registry, "_plugins", None)
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(metric_registry, "_plugins", None)
    monkeypatch.setattr(metric_registry, "_registered", {})


# -- a plugin installed through entry points, run by `tvp compare` -------------------------


def test_an_installed_plugin_arm_and_metric_run_in_a_suite(tmp_path: Path) -> None:
    plugin_dir = install_plugin(tmp_path / "plugin")
    entry_points = next(plugin_dir.glob("keyword_plugin-0.1.0.dist-info")) / "entry_points.txt"
    # pip wrote what the page says the installed metadata holds.
    assert entry_point_sections(entry_points.read_text(encoding="utf-8")) == (
        entry_point_sections(PLUGIN_ENTRY_POINTS)
    )
    suite = write_suite_folder(tmp_path / "suite")
    out = tmp_path / "run"

    ran = tvp(["compare", str(suite), "--out", str(out), "--cache-dir", str(tmp_path)], plugin_dir)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    results, samples = read_run(out)
    assert results["task"]["primary_metric"] == "partial_credit"
    for name in ("keyword", "keyword-sharp"):
        record = results["arms"][name]
        assert record["type"] == "keyword" and record["n"] == 32
        quality = record["quality"]
        assert quality["metric"] == "partial_credit"
        # Eight intents: chance is 1/8 (plus some half points); words do far better.
        assert 0.5 < quality["value"] <= 1.0
        assert quality["ci95"][0] <= quality["value"] <= quality["ci95"][1]
        assert (
            record["metrics"]["partial_credit"]["value"] >= record["metrics"]["accuracy"]["value"]
        )
        assert set(record["keywords"]) == set(INTENTS)
        rows = [r for r in samples if r["arm"] == name]
        assert len(rows) == 32
        assert all(r["scores"]["partial_credit"] in (0.0, 0.5, 1.0) for r in rows)
        mean = sum(r["scores"]["partial_credit"] for r in rows) / len(rows)
        assert mean == pytest.approx(quality["value"], abs=1e-6)
    assert results["arms"]["keyword"]["config"]["train_sizes"] == [16]
    curve = results["arms"]["keyword"]["learning_curve"]
    assert [point["train_size"] for point in curve] == [16]
    assert 0 < curve[0]["quality"]["value"] <= 1


def test_a_plugin_under_a_builtin_name_is_an_error_that_names_both(tmp_path: Path) -> None:
    plugin_dir = write_plugin(
        tmp_path / "site", "[tunevsprompt.arms]\nlora = keyword_plugin:KeywordArm\n"
    )
    suite = write_suite_folder(
        tmp_path / "suite", SUITE.replace("type: keyword", "type: zero-shot")
    )
    checked = tvp(["validate", str(suite)], plugin_dir)
    assert checked.returncode == 3, checked.stdout + checked.stderr
    message = checked.stderr
    assert "'lora' = 'keyword_plugin:KeywordArm'" in message
    assert "keyword-plugin 0.1.0" in message and "tunevsprompt.arms" in message
    assert "built-in arm type (tunevsprompt.arms.lora:LoraArm)" in message


# -- the same, registered in-process -------------------------------------------------------


def test_register_arm_and_metric_in_process(
    plugin_module: ModuleType, fresh_registries: None, tmp_path: Path
) -> None:
    class TimedKeywordArm(plugin_module.KeywordArm):  # type: ignore[name-defined]
        """The keyword arm with a capability: a second way to serve it, timed too."""

        def latency_variants(self) -> dict[str, Any]:
            return {"one-by-one": lambda batch: [self._answer(e) for e in batch]}

    register_arm("keyword", TimedKeywordArm)
    register_metric("partial_credit", plugin_module.partial_credit, "classification")
    assert "keyword" in registry.arm_types()

    loaded = load_suite(write_suite_folder(tmp_path / "suite"))
    run = run_compare(
        loaded, RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache"), SilentObserver()
    )

    results, samples = read_run(run)
    record = results["arms"]["keyword"]
    assert record["quality"]["metric"] == "partial_credit" and record["quality"]["value"] > 0.5
    assert set(record["latency_variants"]) == {"one-by-one"}
    assert len([r for r in samples if r["arm"] == "keyword"]) == 32


def test_register_arm_refuses_builtin_names_and_repeats(
    plugin_module: ModuleType, fresh_registries: None
) -> None:
    arm = plugin_module.KeywordArm
    with pytest.raises(
        RegistryError, match=r"built-in arm type \(tunevsprompt.arms.lora:LoraArm\)"
    ):
        register_arm("lora", arm)
    register_arm("keyword", arm)
    with pytest.raises(RegistryError, match="already registered"):
        register_arm("keyword", arm)
    register_arm("keyword", arm, replace=True)
    assert registry.get_arm_type("keyword") is arm
    unregister_arm("keyword")
    with pytest.raises(registry.UnknownArmType):
        registry.get_arm_type("keyword")


def test_register_arm_says_what_a_class_lacks(fresh_registries: None) -> None:
    class NoConfig:
        def prepare(self, train: Any, ctx: RunContext) -> dict[str, Any]:
            return {}

    with pytest.raises(RegistryError, match="needs config_model, a subclass of ArmConfig"):
        register_arm("broken", NoConfig)  # type: ignore[arg-type]

    class OtherConfig(ArmConfig):
        type: Literal["other"] = "other"

    class NoVisibleTexts:
        config_model = OtherConfig

        def __init__(self, config: ArmConfig) -> None:
            self.name = config.name

        def prepare(self, train: Any, ctx: RunContext) -> dict[str, Any]:
            return {}

        def predict(self, batch: list[Example]) -> list[Prediction]:
            return []

    with pytest.raises(RegistryError, match="has no visible_texts"):
        register_arm("other", NoVisibleTexts)  # type: ignore[arg-type]

    class OtherArm(NoVisibleTexts):
        def visible_texts(self) -> list[str]:
            return []

    with pytest.raises(RegistryError, match=r"declare it as Literal\['mine'\] or leave it a str"):
        register_arm("mine", OtherArm)
    register_arm("other", OtherArm)


def test_register_metric_refuses_builtin_names(fresh_registries: None) -> None:
    with pytest.raises(RegistryError, match="built-in metric"):
        register_metric("accuracy", lambda p, t: float(p == t), "classification")
    with pytest.raises(RegistryError, match="task_type"):
        register_metric("mine", lambda p, t: 1.0, "regression")  # type: ignore[arg-type]


def test_plugins_that_collide_with_each_other_or_a_registration_are_errors(
    fresh_registries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = [
        EntryPoint("keyword", "one_plugin:KeywordArm", "tunevsprompt.arms"),
        EntryPoint("keyword", "other_plugin:KeywordArm", "tunevsprompt.arms"),
    ]
    monkeypatch.setattr("tunevsprompt.plugins.entry_points", lambda group: points)
    with pytest.raises(RegistryError, match="two plugins declare arm type 'keyword'"):
        registry.arm_types()
    monkeypatch.setattr("tunevsprompt.plugins.entry_points", lambda group: points[:1])
    with pytest.raises(RegistryError, match=r"the plugin entry point 'keyword' .* declares it"):
        register_arm("keyword", object)  # type: ignore[arg-type]


def test_a_metric_plugin_must_point_to_a_metric(
    fresh_registries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = [EntryPoint("half", "math:pi", "tunevsprompt.metrics")]
    monkeypatch.setattr("tunevsprompt.plugins.entry_points", lambda group: points)
    with pytest.raises(RegistryError, match=r"must point to a tunevsprompt\.Metric"):
        metric_registry.user_metric("half")


# -- a user metric in the loader and the scorer ---------------------------------------------


def _suite_with_primary(folder: Path, primary: str) -> Path:
    return write_suite_folder(
        folder,
        SUITE.replace("type: keyword", "type: zero-shot")
        .replace("    train_sizes: [16]\n", "")
        .replace("    smoothing: 0.1\n", "")
        .replace("primary: partial_credit", f"primary: {primary}"),
    )


def test_the_loader_knows_registered_metrics(fresh_registries: None, tmp_path: Path) -> None:
    register_metric("partial_credit", lambda p, t: float(p == t), "classification")
    register_metric("bleu_ish", lambda p, t: 0.0, "generation")
    assert metric_registry.known_metrics("classification")[-1] == "partial_credit"

    load_suite(_suite_with_primary(tmp_path / "ok", "partial_credit"))
    with pytest.raises(SuiteError) as typo:
        load_suite(_suite_with_primary(tmp_path / "typo", "partial_credits"))
    assert "did you mean 'partial_credit'?" in str(typo.value)
    with pytest.raises(SuiteError) as wrong_task:
        load_suite(_suite_with_primary(tmp_path / "task", "bleu_ish"))
    assert "metric 'bleu_ish' is for generation tasks, not classification" in str(wrong_task.value)
    unregister_metric("partial_credit")
    with pytest.raises(SuiteError, match="unknown metric 'partial_credit'"):
        load_suite(_suite_with_primary(tmp_path / "gone", "partial_credit"))


def test_a_user_metric_is_scored_per_example_and_checked(fresh_registries: None) -> None:
    from tunevsprompt.errors import RunError
    from tunevsprompt.measure.evaluate import score_predictions

    register_metric("half", lambda p, t: 1.0 if p == t else 0.5, "classification")
    register_metric("too_big", lambda p, t: 2.0, "classification")
    examples = [Example(str(i), f"text {i}", "a" if i % 2 else "b") for i in range(10)]
    predictions = [Prediction(e.id, "a", "a", 3, 1) for e in examples]

    record, per_example = score_predictions("classification", examples, predictions, "half", 200, 0)
    assert record["quality"]["metric"] == "half"
    assert record["quality"]["value"] == pytest.approx(0.75)
    assert record["metrics"]["accuracy"]["value"] == pytest.approx(0.5)
    assert [row["half"] for row in per_example[:2]] == [0.5, 1.0]
    with pytest.raises(RunError, match=r"metric 'too_big' gave 2.0 .* a number in \[0, 1\]"):
        score_predictions("classification", examples, predictions, "too_big", 200, 0)


def test_user_metric_objects_are_public() -> None:
    metric = Metric(lambda p, t: 1.0, "generation")
    assert metric.task_type == "generation" and metric.description == ""


# -- the package root -----------------------------------------------------------------------


def test_importing_the_public_api_loads_no_model_library() -> None:
    code = textwrap.dedent(
        """\
        import sys
        import tunevsprompt
        from tunevsprompt import (
            Arm, ArmConfig, Example, Generator, Message, Prediction, ProbedArm, RunContext,
            RunOptions, TaskInfo, load_suite, register_arm, register_metric, run_compare,
        )
        for name in tunevsprompt.__all__:
            getattr(tunevsprompt, name)
        heavy = ("torch", "transformers", "peft", "ray", "faiss", "sentence_transformers")
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_has_a_home() -> None:
    import tunevsprompt

    assert set(tunevsprompt.__all__) == {"__version__", *tunevsprompt._HOMES}
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tunevsprompt.nothing  # noqa: B018


# -- the page's arm that asks the model ------------------------------------------------------


class WordOverlapGenerator:
    """Scores a continuation by the words it shares with the user's message (enough of a
    Generator for an arm that ranks)."""

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores:
        self.prompts.append(prompt)
        said = set(prompt[-1].content.lower().split())
        overlap = [float(len(said & set(c.split()))) for c in continuations]
        return Scores(overlap, [len(c.split()) for c in continuations], len(said))


def test_the_pages_model_arm_asks_the_run_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registries: None
) -> None:
    import importlib

    from tunevsprompt import LabelSet, TaskInfo

    (tmp_path / "label_word.py").write_text(doc_block("label_word.py"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("label_word")
    try:
        register_arm("label-word", module.LabelWordArm)
        arm_type = registry.get_arm_type("label-word")
        config = arm_type.config_model.model_validate({"name": "words", "type": "label-word"})
        assert config.problems_for_task("generation")
        generator = WordOverlapGenerator()
        task = TaskInfo("classification", "", LabelSet(["card_arrival", "exchange_rate"]))
        ctx = RunContext(task, 0, tmp_path, generator_factory=lambda: generator)
        arm = arm_type(config)
        arm.prepare([], ctx)
        batch = [Example("a", "what is the exchange rate", ""), Example("b", "card arrival?", "")]
        predictions = arm.predict(batch)
    finally:
        sys.modules.pop("label_word", None)
    assert [p.prediction for p in predictions] == ["exchange_rate", "card_arrival"]
    assert [p.raw_output for p in predictions] == ["exchange rate", "card arrival"]
    assert generator.prompts[0][0] == Message("system", "Name the label of this message.")
