"""The local transformers generator: loading, prompt rendering and batched greedy/sampled
decoding; rank scoring and text NLL are in ``hf_scoring``.

torch and transformers are imported inside functions so that importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunevsprompt.generation.base import DecodingSettings
from tunevsprompt.generation.device import resolve_device, resolve_dtype
from tunevsprompt.generation.errors import GeneratorError
from tunevsprompt.generation.hf_scoring import Scorer
from tunevsprompt.generation.model_source import ModelSpec, ResolvedModel, offline, resolve_model
from tunevsprompt.task.types import Generation, Prompt, Scores, WindowNLL

if TYPE_CHECKING:
    import torch

_MARKER = "TVPMARKER7f3a"


class HFGenerator:
    """A causal LM from transformers behind the ``Generator`` Protocol.

    Built around an already loaded model so that callers holding a wrapped model (peft) can
    reuse the same decoding and scoring; ``load_generator`` is the usual way in.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_id: str,
        resolved: ResolvedModel,
        dtype: torch.dtype,
        load_s: float = 0.0,
        soft_prompt: torch.Tensor | None = None,
        adapter: str | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.resolved = resolved
        self.dtype = dtype
        self.load_s = load_s
        self.num_parameters: int = sum(p.numel() for p in model.parameters())
        self.adapter = adapter
        """Identity of what was trained on top of the base weights (an adapter's hash), so a
        tuned model never shares prediction-cache entries with its base model."""
        self.soft_prompt = (
            None
            if soft_prompt is None
            else soft_prompt.detach().to(device=self.device, dtype=dtype)
        )
        """Virtual-token embeddings [V, hidden] placed before every input (prompt tuning)."""
        self.virtual_tokens = 0 if self.soft_prompt is None else int(self.soft_prompt.shape[0])
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.end_of_turn = end_of_turn_text(tokenizer)
        self._stop_ids = self._stop_token_ids()
        self.reuse_prompt_cache = True
        """Keep the last scored prompt's KV cache and recompute only what the next prompt
        changes (few-shot and zero-shot prompts share all but the query)."""
        self.scorer = Scorer(self)

    def reset_prompt_cache(self) -> None:
        """Forget the kept KV cache; call it whenever the model's weights change."""
        self.scorer.reset()

    @property
    def fingerprint(self) -> str:
        """Weights identity + dtype; device and batch size do not change what the model says."""
        weights = self.resolved.source_sha256 or f"{self.model_id}@{self.resolved.revision}"
        identity = {"weights": weights, "dtype": str(self.dtype)}
        if self.adapter is not None:
            identity["adapter"] = self.adapter
        payload = json.dumps(identity, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees: the chat template when there is one."""
        if self.tokenizer.chat_template:
            messages = [{"role": m.role, "content": m.content} for m in prompt]
            text: str = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            return text
        return "\n\n".join(m.content for m in prompt) + "\n"

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """Token ids of the rendered prompt.

        With a chat template the rendered text already holds the special tokens, so the
        tokenizer must not add a second BOS.
        """
        return self._encode(self.render(prompt))

    def _encode(self, rendered: str) -> list[int]:
        special = not self.tokenizer.chat_template
        ids: list[int] = self.tokenizer(rendered, add_special_tokens=special)["input_ids"]
        return ids

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, prompt: Prompt) -> int:
        return len(self.encode_prompt(prompt)) + self.virtual_tokens

    @property
    def context_window(self) -> int | None:
        limit = getattr(self.model.config, "max_position_embeddings", None)
        return limit if isinstance(limit, int) else None

    def generate(self, prompts: Sequence[Prompt], settings: DecodingSettings) -> list[Generation]:
        """Decode each prompt; ``output_tokens`` counts up to and including the stop token.

        Prompts are sorted by length so each batch holds similar lengths (less padding);
        results come back in the caller's order.
        """
        import torch

        if settings.batch_size < 1:
            raise GeneratorError(f"batch_size must be at least 1, got {settings.batch_size}.")
        encoded = [self.encode_prompt(p) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)
        results: list[Generation | None] = [None] * len(encoded)
        with torch.inference_mode():
            for start in range(0, len(order), settings.batch_size):
                chunk = order[start : start + settings.batch_size]
                outputs = self._generate_batch([encoded[i] for i in chunk], settings)
                for index, output in zip(chunk, outputs, strict=True):
                    results[index] = output
        return [r for r in results if r is not None]

    def _generate_batch(
        self, batch: list[list[int]], settings: DecodingSettings
    ) -> list[Generation]:
        import torch

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        # Left padding: every row's last prompt token sits at the same column, where decoding
        # starts; position ids are derived from the attention mask by transformers.
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        sampling = settings.temperature > 0
        options: dict[str, Any] = {"do_sample": sampling}
        if sampling:
            # Plain temperature sampling: switch off whatever top-k/top-p the model ships with.
            options.update(temperature=settings.temperature, top_k=0, top_p=1.0)
        inputs = self.model_inputs(input_ids.to(self.device), mask.to(self.device))
        output = self.model.generate(
            **inputs,
            max_new_tokens=settings.max_new_tokens,
            eos_token_id=sorted(self._stop_ids),
            pad_token_id=pad,
            **options,
        )
        # Given input_ids, generate returns them before the new tokens; given only
        # inputs_embeds (soft prompt), it returns the new tokens alone.
        new_tokens = output[:, width:] if "input_ids" in inputs else output
        generations = []
        for ids, row in zip(batch, new_tokens.tolist(), strict=True):
            stop = next((i for i, tok in enumerate(row) if tok in self._stop_ids), None)
            kept = row if stop is None else row[: stop + 1]
            text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
            generations.append(Generation(text, len(ids), len(kept)))
        return generations

    def derived(
        self, model: Any, *, soft_prompt: torch.Tensor | None = None, adapter: str | None = None
    ) -> HFGenerator:
        """A generator over another form of this model (tuned, merged, with a soft prompt):
        same tokenizer and base identity, its own weights and adapter identity."""
        return HFGenerator(
            model.eval(),
            self.tokenizer,
            model_id=self.model_id,
            resolved=self.resolved,
            dtype=self.dtype,
            soft_prompt=soft_prompt,
            adapter=adapter,
        )

    def model_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Keyword inputs for ``model`` / ``model.generate`` for a batch of whole sequences:
        the ids themselves, or, with a soft prompt, its embeddings followed by the ids'."""
        if self.soft_prompt is None:
            inputs = {"input_ids": input_ids}
            if attention_mask is not None:
                inputs["attention_mask"] = attention_mask
            return inputs
        return with_soft_prompt(self.model, self.soft_prompt, input_ids, attention_mask)

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores:
        """Log-likelihood of each continuation plus the end-of-turn token after ``prompt``
        (``hf_scoring.Scorer.score``)."""
        return self.scorer.score(prompt, continuations)

    def text_nll(self, text: str, window: int, max_tokens: int | None) -> list[WindowNLL]:
        """Summed NLL per window of plain text (``hf_scoring.Scorer.text_nll``)."""
        return self.scorer.text_nll(text, window, max_tokens)

    def continuation_ids(
        self, prompt_text: str, prompt_ids: list[int], continuation: str
    ) -> list[int]:
        """Tokens of ``continuation + end_of_turn`` as they follow the prompt."""
        return self.scorer.continuation_ids(prompt_text, prompt_ids, continuation)

    def _stop_token_ids(self) -> set[int]:
        """eos, the model's own stop ids and the end-of-turn token, when it is one token."""
        stops: set[int] = set()
        for value in (self.tokenizer.eos_token_id, self.model.generation_config.eos_token_id):
            if isinstance(value, int):
                stops.add(value)
            elif isinstance(value, list):
                stops.update(v for v in value if isinstance(v, int))
        eot = self.tokenizer(self.end_of_turn, add_special_tokens=False)["input_ids"]
        if len(eot) == 1:
            stops.add(eot[0])
        return stops


def with_soft_prompt(
    model: Any,
    soft_prompt: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Model inputs with the virtual tokens ``soft_prompt`` [V, hidden] before every row, as
    peft's prompt tuning places them: embeddings, and the mask extended by V ones. Training
    and inference both go through here, so they cannot disagree on the placement."""
    import torch

    batch = input_ids.shape[0]
    words = model.get_input_embeddings()(input_ids)
    prefix = soft_prompt.to(words.dtype)[None].expand(batch, -1, -1)
    inputs = {"inputs_embeds": torch.cat([prefix, words], dim=1)}
    if attention_mask is not None:
        ones = attention_mask.new_ones((batch, soft_prompt.shape[0]))
        inputs["attention_mask"] = torch.cat([ones, attention_mask], dim=1)
    return inputs


def end_of_turn_text(tokenizer: Any) -> str:
    """The text that closes an assistant turn, read off the chat template.

    A two-message conversation is rendered with a marker as the reply; the end of turn is what
    follows the marker up to and including the first special token (``<|im_end|>`` for
    ChatML). Without a chat template, or if nothing special follows, it is the eos token.
    """
    eos: str = tokenizer.eos_token or ""
    if not tokenizer.chat_template:
        return eos
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _MARKER}]
    rendered: str = tokenizer.apply_chat_template(messages, tokenize=False)
    tail = rendered[rendered.rfind(_MARKER) + len(_MARKER) :]
    specials = [s for s in tokenizer.all_special_tokens if s and s in tail]
    if not specials:
        return eos
    first = min(specials, key=lambda s: (tail.index(s), -len(s)))
    return tail[: tail.index(first) + len(first)]


def load_generator(spec: ModelSpec) -> HFGenerator:
    """Resolve, load and wrap a model; ``load_s`` covers resolving (dequantising) too."""
    started = time.perf_counter()
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    resolved = resolve_model(spec)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunevsprompt.generation.quiet import no_loading_bars

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path_or_id, revision=resolved.revision)
        with no_loading_bars():
            model: Any = AutoModelForCausalLM.from_pretrained(
                resolved.path_or_id, revision=resolved.revision, dtype=dtype
            )
    except (OSError, ValueError) as error:
        where = " offline (HF_HUB_OFFLINE is set)" if offline() else ""
        raise GeneratorError(
            f"Model {spec.id!r} could not be found{where}: pass an existing local folder, "
            f"a cached hub id, or a packaged model. ({type(error).__name__}: {error})"
        ) from error
    return HFGenerator(
        model.to(device).eval(),
        tokenizer,
        model_id=spec.id,
        resolved=resolved,
        dtype=dtype,
        load_s=time.perf_counter() - started,
    )
