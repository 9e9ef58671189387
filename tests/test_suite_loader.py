"""Suite validation: errors name the file, line, key path and a fix; `tvp validate` exits 2."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunevsprompt.cli import main
from tunevsprompt.errors import SuiteError
from tunevsprompt.suite.loader import load_suite

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "suites" / "support-bot.yaml"


@pytest.fixture()
def suite_dir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "suites" / "data", tmp_path / "data")
    return tmp_path


def _write(folder: Path, text: str, name: str = "suite.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _variant(old: str, new: str) -> str:
    text = SHIPPED.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def _validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(path)])
    return result.exit_code, result.output


def test_shipped_suites_validate() -> None:
    for path in (REPO / "suites").glob("*.yaml"):
        loaded = load_suite(path)
        assert loaded.arms, path


def test_unknown_key_names_key_path_line_and_suggestion(suite_dir: Path) -> None:
    path = _write(suite_dir, _variant("    k: 8", "    kk: 8"))
    code, out = _validate(path)
    assert code == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "kk:" in text)
    assert f"suite.yaml:{line}: arms[1].kk: unknown key" in out
    assert "did you mean 'k'" in out
    assert "Traceback" not in out


def test_unknown_top_level_key_suggests(suite_dir: Path) -> None:
    path = _write(suite_dir, _variant("sampling:", "sampeling:"))
    code, out = _validate(path)
    assert code == 2 and "sampeling: unknown key" in out and "did you mean 'sampling'" in out


def test_wrong_type(suite_dir: Path) -> None:
    code, out = _validate(_write(suite_dir, _variant("    k: 8", "    k: eight")))
    assert code == 2 and "arms[1].k" in out and "integer" in out


def test_wrong_literal_suggests(suite_dir: Path) -> None:
    code, out = _validate(_write(suite_dir, _variant("type: zero-shot", "type: zero_shot")))
    assert code == 2 and "arms[0].type" in out and "did you mean 'zero-shot'" in out


def test_missing_file(suite_dir: Path) -> None:
    code, out = _validate(
        _write(suite_dir, _variant("data/banking77/train.csv", "data/banking77/nope.csv"))
    )
    assert code == 2 and "task.data.train" in out and "file not found" in out


def test_path_escape_with_dotdot(suite_dir: Path) -> None:
    code, out = _validate(_write(suite_dir, _variant("data/banking77/train.csv", "../train.csv")))
    assert code == 2 and "task.data.train" in out and "leaves the suite's folder" in out


def test_path_escape_through_symlink(
    suite_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "train.csv"
    shutil.copy(REPO / "suites" / "data" / "banking77" / "train.csv", outside)
    (suite_dir / "data" / "link.csv").symlink_to(outside)
    code, out = _validate(_write(suite_dir, _variant("data/banking77/train.csv", "data/link.csv")))
    assert code == 2 and "task.data.train" in out and "symbolic link" in out


def test_missing_field_in_data(suite_dir: Path) -> None:
    code, out = _validate(_write(suite_dir, _variant("input_field: text", "input_field: query")))
    assert code == 2 and "task.input_field" in out and "text, category" in out


def test_missing_required_key(suite_dir: Path) -> None:
    text = SHIPPED.read_text()
    raw = yaml.safe_load(text)
    del raw["task"]["instruction"]
    code, out = _validate(_write(suite_dir, yaml.safe_dump(raw)))
    assert code == 2 and "task.instruction: required key is missing" in out


def test_duplicate_arm_names(suite_dir: Path) -> None:
    code, out = _validate(_write(suite_dir, _variant("name: few-shot", "name: zero-shot")))
    assert code == 2 and "unique" in out


def test_rank_on_generation_task_is_rejected(suite_dir: Path) -> None:
    code, out = _validate(_write(suite_dir, _variant("type: classification", "type: generation")))
    assert code == 2 and "arms[0].decide" in out


@pytest.mark.parametrize("arm", ["setfit", "encoder-finetune"])
def test_an_encoder_arm_on_a_generation_task_is_rejected(suite_dir: Path, arm: str) -> None:
    text = _variant("type: classification", "type: generation")
    start, end = text.index("arms:"), text.index("# No forgetting block")
    text = text[:start] + f"arms:\n  - name: tuned-encoder\n    type: {arm}\n" + text[end:]
    code, out = _validate(_write(suite_dir, text))
    assert code == 2 and "arms[0].type" in out, out
    assert "classification tasks only" in out and "lora" in out


def test_select_unknown_arm_suggests() -> None:
    with pytest.raises(SuiteError) as err:
        load_suite(SHIPPED).select_arms(["few_shot"])
    assert "did you mean 'few-shot'" in str(err.value)


def test_schema_is_json_and_lists_arm_types() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    consts = {v["$ref"].split("/")[-1] for v in schema["properties"]["arms"]["items"]["oneOf"]}
    assert {"ZeroShotConfig", "FewShotConfig"} <= consts
    assert "description" in schema["$defs"]["FewShotConfig"]["properties"]["k"]


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=yaml_values)
def test_random_yaml_structures_never_traceback(suite_dir: Path, value: object) -> None:
    path = _write(suite_dir, yaml.safe_dump(value), "random.yaml")
    try:
        load_suite(path)
    except SuiteError as exc:
        assert exc.problems and all(p.file for p in exc.problems)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.sampled_from(list("abk:- \n\t[]{}'\"&*!|>#0.9")), max_size=80))
def test_random_yaml_text_never_tracebacks(suite_dir: Path, text: str) -> None:
    path = _write(suite_dir, text, "random.yaml")
    with contextlib.suppress(SuiteError):
        load_suite(path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.sampled_from(["k", "decide", "selection", "name", "parse", "max_new_tokens"]),
    value=yaml_values,
)
def test_mutated_shipped_suite_never_tracebacks(suite_dir: Path, key: str, value: object) -> None:
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["arms"][1][key] = value
    path = _write(suite_dir, yaml.safe_dump(raw), "mutated.yaml")
    try:
        load_suite(path)
    except SuiteError as exc:
        assert any(p.key_path.startswith("arms") for p in exc.problems)


def test_validate_loads_no_model_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from tunevsprompt.cli import main\n"
        f"result = CliRunner().invoke(main, ['validate', {str(SHIPPED)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gates_must_name_arms_of_the_suite(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    data = tmp_path / "test.jsonl"
    data.write_text('{"text": "hi", "label": "greet"}\n')
    suite.write_text(
        "name: s\ntask:\n  type: classification\n  data: {test: test.jsonl}\n"
        "  instruction: classify\narms:\n  - {name: lora, type: zero-shot}\n"
        "gates:\n  require_recommendation: loar\n"
    )
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    assert "gates.require_recommendation" in str(info.value)
    assert "did you mean 'lora'" in str(info.value)


def test_cluster_field_p95_and_parse_failure_bars_are_checked_against_the_sample(
    suite_dir: Path,
) -> None:
    missing = _write(suite_dir, SHIPPED.read_text() + "metrics:\n  cluster_field: channel\n")
    code, out = _validate(missing)
    assert code == 2 and "metrics.cluster_field" in out and "no field 'channel'" in out
    by_label = _write(suite_dir, SHIPPED.read_text() + "metrics:\n  cluster_field: category\n")
    assert load_suite(by_label).suite.metrics.cluster_field == "category"
    assert _validate(by_label)[0] == 0

    timed = _variant(
        "decision:\n", "decision:\n  max_p95_ms: 3000\n  max_parse_failure_rate: 0.01\n"
    )
    code, out = _validate(_write(suite_dir, timed))
    assert code == 0
    assert "only 20 requests are timed" in out and "at least 72" in out
    assert "max_parse_failure_rate 0.01 cannot be shown on 154 test examples" in out
    default = _write(suite_dir, timed.replace("latency:\n  sample: 20\n", "latency:\n"))
    suite = load_suite(default).suite
    assert suite.latency.sample is None and suite.latency_sample() == 72
    plain = load_suite(SHIPPED).suite
    assert plain.decision.max_p95_ms is None


def test_start_from_must_name_another_arm(suite_dir: Path) -> None:
    optimized = (
        "  - name: embed-linear\n    type: embed-linear\n"
        "  - name: optimized\n    type: optimized-prompt\n    start_from: [few-shot, zero_shot]\n"
    )
    text = _variant("  - name: embed-linear\n    type: embed-linear\n", optimized)
    code, out = _validate(_write(suite_dir, text))
    assert code == 2 and "start_from[1]" in out and "'zero_shot' is not another arm" in out
    assert "did you mean 'zero-shot'" in out
    fixed = text.replace("zero_shot]", "zero-shot]")
    code, out = _validate(_write(suite_dir, fixed))
    assert code == 0, out
