"""The typed model of results.json: what tvp writes goes through it unchanged (the schema 1.0
fixture, a decided run, a bare decision), what it does not understand is refused with the
file, the key path and what to do (`tvp report` and `tvp gate` exit 2), and `tvp schema
--results` exports it. No model is loaded."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ValidationError

from tunevsprompt.cli import main
from tunevsprompt.decide.analyse import Policy, decide
from tunevsprompt.decide.config import DecisionConfig, PricingConfig
from tunevsprompt.runfolder import results as model
from tunevsprompt.runfolder.read import RunFolderError, load_results
from tunevsprompt.runfolder.results import Results, parse_results, results_dict, write_results
from tunevsprompt.runfolder.store import write_json_atomic

FIXTURE = Path(__file__).parent / "fixtures" / "run-support-bot"


def fixture_run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    results = json.loads((FIXTURE / "results.json").read_text(encoding="utf-8"))
    lines = (FIXTURE / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return results, [json.loads(line) for line in lines if line.strip()]


def as_json(data: Any) -> Any:
    """What the file holds: tuples become lists, key order is the writer's."""
    return json.loads(json.dumps(data))


def round_trip(data: dict[str, Any]) -> dict[str, Any]:
    return results_dict(parse_results(data), like=data)


def bare_decision() -> dict[str, Any]:
    """The decision code on the least a results.json can hold (as `tvp plan`'s test writes)."""
    rng = np.random.default_rng(3)
    correct = {"dear": rng.random(60) < 0.8, "cheap": rng.random(60) < 0.7}
    samples = [
        {"arm": arm, "id": f"e{i}", "target": "a", "prediction": "a" if ok else "b"}
        | {"scores": {"accuracy": float(ok)}, "latency_ms": None}
        for arm, values in correct.items()
        for i, ok in enumerate(values)
    ]
    results = {
        "schema_version": "2.0",
        "task": {"primary_metric": "accuracy", "type": "classification"},
        "manifest": {"seed": 0, "device": "cpu"},
        "arms": {
            arm: {
                "quality": {"metric": "accuracy", "value": None},
                "n": 60,
                "throughput_eps": speed,
                "parse_failure_rate": 0.0,
            }
            for arm, speed in (("dear", 1.0), ("cheap", 10.0))
        },
    }
    policy = Policy(PricingConfig(monthly_requests=[100_000]), DecisionConfig(), None)
    return decide(results, samples, policy)


# -- written through the model, unchanged -----------------------------------------------------


def test_the_schema_1_fixture_round_trips_to_the_same_file() -> None:
    results, _ = fixture_run()
    again = round_trip(results)
    assert again == results
    assert json.dumps(again) == json.dumps(results)  # the same keys in the same order
    typed = load_results(FIXTURE)
    assert typed.schema_version == "1.0"
    assert list(typed.arms) == ["zero-shot", "lora", "soft-prompt"]
    lora = typed.arms["lora"]
    assert lora.training is not None and lora.training.steps == 38
    assert lora.forgetting is not None and lora.forgetting.probes is not None
    assert lora.forgetting.probes["prose"].window == 256
    assert typed.recommendation is not None and typed.recommendation.arm == "lora"


def test_a_decided_run_round_trips_with_and_without_samples() -> None:
    results, samples = fixture_run()
    decided = decide(copy.deepcopy(results), samples, Policy.from_results(results))
    assert decided["schema_version"] == "2.0" and decided["upgraded_from"] == "1.0"
    assert round_trip(decided) == as_json(decided)
    alone = decide(copy.deepcopy(results), [], Policy.from_results(results))
    assert alone["intervals_from"] == "1.0"
    assert round_trip(alone) == as_json(alone)
    bare = bare_decision()
    assert bare["recommendation"]["tests"], "the rule compared the two arms"
    assert round_trip(bare) == as_json(bare)


def test_write_results_writes_the_same_bytes_as_before(tmp_path: Path) -> None:
    results, samples = fixture_run()
    decided = decide(copy.deepcopy(results), samples, Policy.from_results(results))
    typed = write_results(tmp_path / "results.json", decided)
    write_json_atomic(tmp_path / "plain.json", decided)
    assert (tmp_path / "results.json").read_bytes() == (tmp_path / "plain.json").read_bytes()
    assert isinstance(typed, Results) and typed.schema_version == "2.0"


def test_numbers_keep_their_type_and_strings_are_not_numbers() -> None:
    results, _ = fixture_run()
    cost = parse_results(results).arms["lora"].cost
    assert cost is not None and isinstance(cost.volume, int) and cost.volume == 100_000
    for key, bad in (("n", True), ("n", 154.0), ("n", "154"), ("throughput_eps", "0.88")):
        broken = copy.deepcopy(results)
        broken["arms"]["lora"][key] = bad
        with pytest.raises(ValidationError, match=f"arms.lora.{key}"):
            parse_results(broken)


def test_an_arm_may_add_records_but_tvp_records_are_closed() -> None:
    results, _ = fixture_run()
    extended = copy.deepcopy(results)
    extended["arms"]["lora"]["my_plugin"] = {"anything": [1, 2.5, None]}
    extended["arms"]["lora"]["training"]["plugin_steps"] = 3
    extended["arms"]["lora"]["prompting"]["template_id"] = "t1"
    assert round_trip(extended) == extended
    assert parse_results(extended).arms["lora"].model_extra == {
        "my_plugin": {"anything": [1, 2.5, None]}
    }
    for where in (extended, extended["arms"]["lora"]["quality"], extended["manifest"]):
        where["surprise"] = 1
        with pytest.raises(ValidationError, match="surprise"):
            parse_results(extended)
        del where["surprise"]


def test_a_write_that_does_not_fit_is_a_bug_not_a_file(tmp_path: Path) -> None:
    results, _ = fixture_run()
    results["arms"]["lora"]["quality"]["ci95"] = [0.1]
    with pytest.raises(Exception, match=r"arms\.lora\.quality\.ci95: .*please report it"):
        write_results(tmp_path / "results.json", results)
    assert not (tmp_path / "results.json").exists()


# -- refused on read -------------------------------------------------------------------------


def _run_folder(tmp_path: Path, content: str) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    (run_dir / "results.json").write_text(content, encoding="utf-8")
    return run_dir


def _edited(change: Any) -> str:
    results, _ = fixture_run()
    change(results)
    return json.dumps(results)


MALFORMED = [
    (
        _edited(lambda r: r["arms"]["lora"]["quality"].update(value="high")),
        ["arms.lora.quality.value: should be a number (got 'high')", "rerun `tvp compare`"],
    ),
    (
        _edited(lambda r: r["comparisons"][1].update(ci95=[0.1])),
        ["comparisons[1].ci95", "rerun `tvp compare`"],
    ),
    (
        _edited(lambda r: r.pop("arms")),
        ["arms: Field required", "not a tvp results file"],
    ),
    ('[{"arms": {}}]', ["holds a JSON list, not an object", "not a tvp results file"]),
    (
        json.dumps({"results": {"hellaswag": {"acc": 0.5}}, "config": {"model": "hf"}}),
        ["results: unknown key", "schema_version: Field required", "not a tvp results file"],
    ),
    (
        _edited(lambda r: r.update(schema_version="3.0", provenance={})),
        ["newer tvp (schema_version 3.0", "provenance: unknown key", "Upgrade tunevsprompt"],
    ),
]


@pytest.mark.parametrize(("content", "says"), MALFORMED)
def test_a_malformed_results_json_is_exit_2_naming_file_key_and_fix(
    tmp_path: Path, content: str, says: list[str]
) -> None:
    run_dir = _run_folder(tmp_path, content)
    before = (run_dir / "results.json").read_text(encoding="utf-8")
    for command in (["report", str(run_dir)], ["gate", str(run_dir), "--min-quality", "0.1"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        assert str(run_dir / "results.json") in result.output
        for text in says:
            assert text in result.output, (command, text, result.output)
    # Nothing was rewritten: the reports are not rendered from a file tvp cannot read.
    assert (run_dir / "results.json").read_text(encoding="utf-8") == before
    assert not (run_dir / "junit.xml").exists()
    with pytest.raises(RunFolderError):
        load_results(run_dir)


def test_the_schema_1_fixture_still_reports_and_gates(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    reported = CliRunner().invoke(main, ["report", str(run_dir)])
    assert reported.exit_code == 0 and "recommended:" in reported.output, reported.output
    assert load_results(run_dir).upgraded_from == "1.0"
    gated = CliRunner().invoke(main, ["gate", str(run_dir), "--arm", "lora"])
    # The run's own gates, read from the upgraded file: the p95 bar cannot be shown at n = 20.
    assert gated.exit_code == 1, gated.output
    assert "gate quality [lora]: PASS" in gated.output
    assert "gate p95_latency [lora]: FAIL: not demonstrated" in gated.output


# -- exported as JSON Schema -------------------------------------------------------------------


def _undescribed(node: Any, path: str = "") -> list[str]:
    """Properties of the schema without a description."""
    found = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if not (isinstance(prop, dict) and prop.get("description")):
                found.append(f"{path}.{name}")
        for key, value in node.items():
            found += _undescribed(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _undescribed(value, f"{path}[{i}]")
    return found


def test_tvp_schema_results_prints_the_described_json_schema() -> None:
    printed = CliRunner().invoke(main, ["schema", "--results"])
    assert printed.exit_code == 0, printed.output
    schema = json.loads(printed.output)
    assert schema == json.loads(json.dumps(model.results_json_schema()))
    assert schema["$schema"].endswith("2020-12/schema") and "2.0" in schema["title"]
    assert set(schema["required"]) == {"schema_version", "arms"}
    assert schema["additionalProperties"] is False
    arm = schema["$defs"]["ArmRecord"]
    assert arm["additionalProperties"] is True  # an arm's own records are kept
    assert {"quality", "latency_ms", "cost", "forgetting", "api"} <= set(arm["properties"])
    assert _undescribed(schema) == []
    # the suite's schema is still the default
    suite = json.loads(CliRunner().invoke(main, ["schema"]).output)
    assert "task" in suite["properties"] and "arms" in suite["properties"]


def test_every_model_documents_every_field() -> None:
    seen: set[type[BaseModel]] = set()

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        assert cls.__doc__, cls.__name__
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name}"
            for arg in _models_in(field.annotation):
                visit(arg)

    visit(Results)
    assert len(seen) > 40


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    return found


def test_what_tvp_writes_validates_against_the_exported_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    results, samples = fixture_run()
    schema = model.results_json_schema()
    jsonschema.validate(results, schema)
    decided = decide(copy.deepcopy(results), samples, Policy.from_results(results))
    jsonschema.validate(as_json(decided), schema)
    jsonschema.validate(as_json(bare_decision()), schema)
    broken = copy.deepcopy(results)
    broken["arms"]["lora"]["quality"]["value"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_run_folder_page_reads_a_run_through_the_public_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Python example in docs/run-folder.md, run against the fixture run folder."""
    import re

    import tunevsprompt

    page = (Path(__file__).parents[1] / "docs" / "run-folder.md").read_text(encoding="utf-8")
    section = page.split("## Reading it from Python", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    code = block.group(1).replace('"runs/support-bot-20261128-101500"', repr(str(FIXTURE)))
    exec(compile(code, "docs/run-folder.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    results, _ = fixture_run()
    assert [line.split()[0] for line in printed[:-1]] == list(results["arms"])
    decided = results.get("recommendation")
    assert printed[-1] == (str(decided.get("status")) if decided else "no decision")
    assert isinstance(tunevsprompt.load_results(FIXTURE), tunevsprompt.Results)
    with pytest.raises(tunevsprompt.RunFolderError, match=r"results\.json not found"):
        tunevsprompt.load_results(tmp_path)
