"""`tvp export` and a real OpenAI-compatible server: the LoRA arm of the shared tuned run is
exported as a model folder, loaded with from_pretrained (it reproduces the arm's answers), and
served by `transformers serve`; a suite whose API arm goes through that server answers exactly
like its local arm on the same weights, and reruns make no API call."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import BANKING_TASK
from tunevsprompt.cli import main

pytestmark = pytest.mark.slow

pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def exported(tuned_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "lora-merged"
    result = CliRunner().invoke(main, ["export", str(tuned_run), "--arm", "lora", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A running `transformers serve`: its /v1 root, and the requests it has logged."""

    def __init__(self, url: str, log: Path):
        self.url = url
        self.log = log

    def requests(self) -> int:
        return self.log.read_text(errors="replace").count("[Request received]")


@pytest.fixture(scope="module")
def server(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`transformers serve` on 127.0.0.1 with the exported folder."""
    port = _free_port()
    command = shutil.which("transformers", path=str(Path(sys.executable).parent))
    assert command, "the transformers console script is not installed beside this python"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                command,
                "serve",
                str(exported),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--device",
                "cpu",
                "--log-level",
                "warning",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                output = log.read_text(errors="replace")
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{output}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "transformers serve did not become healthy"
            time.sleep(0.5)
        yield Server(f"http://127.0.0.1:{port}/v1", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_export_is_a_model_folder_that_reproduces_the_lora_arm(
    exported: Path, tuned_run: Path, five_intent_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    names = {p.name for p in exported.iterdir()}
    assert {"config.json", "model.safetensors", "tvp_export.json"} <= names
    assert not any(name.startswith("adapter_") for name in names), "not merged"
    assert AutoTokenizer.from_pretrained(exported).chat_template, "no chat template"
    results = json.loads((tuned_run / "results.json").read_text())
    record = json.loads((exported / "tvp_export.json").read_text())
    assert record["adapter_sha256"] == results["arms"]["lora"]["adapter"]["sha256"]

    # The lora arm's prompt is the instruction and the input (no label list): a zero-shot arm
    # with show_labels off on the exported weights asks the same thing and must rank the same.
    suite = five_intent_dir / "exported.yaml"
    suite.write_text(
        "name: exported\n"
        + BANKING_TASK
        + f"model: {{id: '{exported}'}}\n"
        + "arms:\n  - {name: merged, type: zero-shot, decide: rank, show_labels: false}\n"
        + "latency: {sample: 0}\n"
    )
    out = tmp_path / "run"
    run = CliRunner().invoke(
        main, ["compare", str(suite), "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    )
    assert run.exit_code == 0, run.output
    mine = _predictions(out, "merged")
    theirs = _predictions(tuned_run, "lora")
    assert mine == theirs
    # And the tuned weights are really in it: well above the base model's zero-shot accuracy.
    merged = json.loads((out / "results.json").read_text())["arms"]["merged"]
    assert merged["quality"]["value"] == results["arms"]["lora"]["quality"]["value"]
    assert merged["quality"]["value"] > results["arms"]["zero-shot"]["quality"]["value"]


def _predictions(run: Path, arm: str) -> dict[str, str]:
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return {r["id"]: r["prediction"] for r in rows if r["arm"] == arm}


def test_an_api_arm_through_transformers_serve_answers_like_the_local_arm(
    exported: Path, server: Server, five_intent_dir: Path, tmp_path: Path
) -> None:
    from tunevsprompt.suite.loader import load_suite
    from tunevsprompt.task.data import load_task_data

    suite = five_intent_dir / "served.yaml"
    template = (
        "name: served\n"
        + BANKING_TASK
        + f"model: {{id: '{exported}'}}\n"
        + f"openai: {{base_url: '{server.url}', model: '{exported}', concurrency: 2}}\n"
        + "arms:\n"
        + "  - {name: local, type: few-shot, SHOTS, decide: generate, max_new_tokens: 12}\n"
        + "  - {name: api, type: few-shot, SHOTS, backend: openai, max_new_tokens: 12}\n"
        + "latency: {sample: 2, warmup: 0}\n"
    )
    # The same three demonstrations for both arms (random ones are drawn per arm name).
    suite.write_text(template.replace("SHOTS", "k: 3"))
    ids = [e.id for e in load_task_data(load_suite(suite)).train[:3]]
    suite.write_text(template.replace("SHOTS", f"k: 3, selection: fixed, ids: {json.dumps(ids)}"))
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = ["compare", str(suite), "--limit", "10", "--cache-dir", str(cache)]
    before = server.requests()
    first = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert server.requests() - before == 10 + 2  # answers + timed requests
    results = json.loads((out / "results.json").read_text())
    api = results["arms"]["api"]
    assert api["errors"] == 0 and api["api"]["requests"] == 10 + 2
    assert api["api"]["base_url"] == server.url and api["latency_ms"]["n"] == 2
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    local = {r["id"]: (r["raw_output"], r["prediction"]) for r in rows if r["arm"] == "local"}
    remote = {r["id"]: (r["raw_output"], r["prediction"]) for r in rows if r["arm"] == "api"}
    assert remote == local  # greedy decoding, same weights, same chat template
    # Token counts come from the server's usage: the same prompt, the same tokenizer.
    local_tokens = {r["id"]: r["tokens"] for r in rows if r["arm"] == "local"}
    remote_tokens = {r["id"]: r["tokens"] for r in rows if r["arm"] == "api"}
    assert remote_tokens == local_tokens

    # The same suite and run folder again: the finished arm is reused, no request is made.
    rerun = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert rerun.exit_code == 0, rerun.output
    # Another folder, latency timing off: every answer comes from the response cache.
    suite.write_text(suite.read_text().replace("{sample: 2, warmup: 0}", "{sample: 0}"))
    elsewhere = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b"), "--arms", "api"])
    assert elsewhere.exit_code == 0, elsewhere.output
    assert server.requests() - before == 10 + 2, "a rerun called the server"
    again = json.loads((tmp_path / "b" / "results.json").read_text())["arms"]["api"]
    assert again["api"]["requests"] == 0 and again["cache"] == {"computed": 0, "cached": 10}
