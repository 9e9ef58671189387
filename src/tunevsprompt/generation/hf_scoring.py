"""Scoring with a local transformers model: the log-likelihood of label continuations after
a prompt (rank scoring; all continuations packed into one forward pass, the prompt's KV cache
kept between prompts that share a prefix), and the summed NLL of plain text per window
(perplexity probes). ``HFGenerator`` delegates its ``score`` and ``text_nll`` here.

torch and transformers are imported inside functions so that importing this module is cheap.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tunevsprompt.generation.errors import GeneratorError
from tunevsprompt.generation.packing import (
    pack_after_prompt,
    pack_continuations,
    shared_prefix_len,
    split_for_budget,
)
from tunevsprompt.task.types import Prompt, Scores, WindowNLL

if TYPE_CHECKING:
    import torch

NLL_BATCH = 4
"""Windows per forward pass in ``text_nll``: the float32 log-softmax over the vocabulary is
the memory peak (rows x window x vocabulary)."""

PACK_BUDGET = 2048
"""Most tokens in one packed scoring pass: the L x L mask and attention grow quadratically."""


def cache_keyword(model: Any) -> str:
    """The forward keyword for a KV cache: ``cache`` where transformers renamed
    ``past_key_values`` (5.2x and later, which warn on the old name), else the old one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _cache_keyword_of(type(base))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=32)
def _cache_keyword_of(model_class: type) -> str:
    parameters = inspect.signature(model_class.forward).parameters  # type: ignore[attr-defined]
    return "cache" if "cache" in parameters else "past_key_values"


class ScoringModel(Protocol):
    """What scoring needs of the generator it serves."""

    model: Any
    tokenizer: Any
    dtype: Any
    virtual_tokens: int
    end_of_turn: str
    reuse_prompt_cache: bool

    @property
    def device(self) -> str: ...

    @property
    def context_window(self) -> int | None: ...

    def render(self, prompt: Prompt) -> str: ...

    def _encode(self, rendered: str) -> list[int]: ...

    def model_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]: ...


class Scorer:
    """Rank scoring and text NLL for one generator, with the last scored prompt's KV cache
    (few-shot and zero-shot prompts share all but the query)."""

    def __init__(self, gen: ScoringModel) -> None:
        self.gen = gen
        self._cache_ids: list[int] = []
        self._cache: Any = None

    def reset(self) -> None:
        """Forget the kept KV cache; call it whenever the model's weights change."""
        self._cache_ids, self._cache = [], None

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores:
        """Log-likelihood of each continuation plus the end-of-turn token after ``prompt``.

        All continuations share one forward pass over ``prompt + c1 + c2 + ...`` (see
        ``packing``); scoring the end-of-turn token keeps a label that is a prefix of a longer
        one from winning just for being short.
        """
        prompt_text = self.gen.render(prompt)
        prompt_ids = self.gen._encode(prompt_text)
        conts = [self.continuation_ids(prompt_text, prompt_ids, c) for c in continuations]
        lengths = [len(c) for c in conts]
        logprobs: list[float] = [0.0] * len(conts)
        groups = split_for_budget(len(prompt_ids), lengths, self._budget())
        if self.gen.reuse_prompt_cache:
            try:
                self._score_with_prompt_cache(prompt_ids, conts, groups, logprobs)
            except BaseException:
                self.reset()
                raise
        else:
            for group in groups:
                sums = self._score_packed(prompt_ids, [conts[i] for i in group])
                for index, value in zip(group, sums, strict=True):
                    logprobs[index] = value
        return Scores(logprobs=logprobs, token_counts=lengths, input_tokens=len(prompt_ids))

    def text_nll(self, text: str, window: int, max_tokens: int | None) -> list[WindowNLL]:
        """Summed NLL per window of plain text, with a soft prompt (if any) before every
        window, as the tuned model would see any input."""
        import torch

        if window < 2:
            raise GeneratorError(f"a perplexity window needs at least 2 tokens, got {window}.")
        ids: list[int] = self.gen.tokenizer(text, add_special_tokens=False)["input_ids"]
        if max_tokens is not None:
            ids = ids[:max_tokens]
        windows = [ids[i : i + window] for i in range(0, len(ids), window)]
        windows = [w for w in windows if len(w) >= 2]
        results: list[WindowNLL] = []
        virtual = self.gen.virtual_tokens
        with torch.inference_mode():
            # Same-length windows batch together; only the text's last window may be shorter,
            # and it comes last, so results stay in text order.
            for start in range(0, len(windows), NLL_BATCH):
                group = windows[start : start + NLL_BATCH]
                for length in sorted({len(w) for w in group}, reverse=True):
                    rows = [w for w in group if len(w) == length]
                    batch = torch.tensor(rows, device=self.gen.device)
                    logits = self.gen.model(**self.gen.model_inputs(batch), use_cache=False).logits
                    logp = torch.log_softmax(logits[:, virtual:-1].float(), dim=-1)
                    picked = logp.gather(2, batch[:, 1:, None])[..., 0]
                    for row, nll in zip(rows, (-picked.sum(dim=1)).tolist(), strict=True):
                        results.append(
                            WindowNLL(self.gen.tokenizer.decode(row), float(nll), len(row) - 1)
                        )
        return results

    def _score_with_prompt_cache(
        self,
        prompt_ids: list[int],
        conts: list[list[int]],
        groups: list[list[int]],
        logprobs: list[float],
    ) -> None:
        """Extend the kept KV cache to this prompt (recomputing only the tokens after the
        prefix it shares with the last prompt), then score each pack of continuations against
        it, cropping the cache back to the prompt after each pack."""
        import torch
        from transformers import DynamicCache

        virtual = self.gen.virtual_tokens  # a soft prompt sits in the cache before every prompt
        shared = min(shared_prefix_len(self._cache_ids, prompt_ids), len(prompt_ids) - 1)
        if self._cache is None or shared == 0:
            self._cache, shared = DynamicCache(config=self.gen.model.config), 0
        else:
            self._cache.crop(-(self._cache.get_seq_length() - virtual - shared))
        total = virtual + len(prompt_ids)
        with torch.inference_mode():
            new_ids = torch.tensor([prompt_ids[shared:]], device=self.gen.device)
            # From scratch the soft prompt (if any) goes in first; otherwise it is in the cache.
            inputs = self.gen.model_inputs(new_ids) if shared == 0 else {"input_ids": new_ids}
            start = 0 if shared == 0 else virtual + shared
            cache = {cache_keyword(self.gen.model): self._cache}
            out = self.gen.model(
                **inputs,
                **cache,
                position_ids=torch.arange(start, total, device=self.gen.device)[None],
                use_cache=True,
                logits_to_keep=1,
            )
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            for group in groups:
                packed = [conts[i] for i in group]
                mask, positions = pack_after_prompt(total, [len(c) for c in packed], self.gen.dtype)
                flat = [tok for c in packed for tok in c]
                logits = self.gen.model(
                    input_ids=torch.tensor([flat], device=self.gen.device),
                    attention_mask=mask.to(self.gen.device),
                    position_ids=positions.to(self.gen.device),
                    **cache,
                    use_cache=True,
                ).logits[0]
                self._cache.crop(-len(flat))
                logp = torch.log_softmax(logits.float(), dim=-1)
                offset = 0
                for index, cont in zip(group, packed, strict=True):
                    rest = torch.tensor(cont[1:], dtype=torch.long, device=logp.device)
                    own = logp[offset : offset + len(cont) - 1].gather(1, rest[:, None]).sum()
                    logprobs[index] = float(first[cont[0]] + own)
                    offset += len(cont)
        self._cache_ids = list(prompt_ids)

    def _budget(self) -> int:
        limit = self.gen.context_window
        return min(PACK_BUDGET, limit) if limit is not None else PACK_BUDGET

    def continuation_ids(
        self, prompt_text: str, prompt_ids: list[int], continuation: str
    ) -> list[int]:
        """Tokens of ``continuation + end_of_turn`` as they follow the prompt.

        Taken as the suffix of the joint tokenisation, i.e. what the model would emit; if the
        join merges across the boundary (the prompt's tokens change) the continuation is
        tokenised on its own instead, so the prompt the model conditions on is always the
        same one.
        """
        joint = self.gen._encode(prompt_text + continuation + self.gen.end_of_turn)
        if joint[: len(prompt_ids)] == prompt_ids and len(joint) > len(prompt_ids):
            return joint[len(prompt_ids) :]
        alone: list[int] = self.gen.tokenizer(
            continuation + self.gen.end_of_turn, add_special_tokens=False
        )["input_ids"]
        return alone

    def _score_packed(self, prompt_ids: list[int], conts: list[list[int]]) -> list[float]:
        import torch

        virtual = self.gen.virtual_tokens
        mask, positions = pack_continuations(
            virtual + len(prompt_ids), [len(c) for c in conts], self.gen.dtype
        )
        flat = prompt_ids + [tok for c in conts for tok in c]
        keep = len(flat) - len(prompt_ids) + 1  # last prompt token predicts each first token
        with torch.inference_mode():
            logits = self.gen.model(
                **self.gen.model_inputs(torch.tensor([flat], device=self.gen.device)),
                attention_mask=mask.to(self.gen.device),
                position_ids=positions.to(self.gen.device),
                logits_to_keep=keep,
                use_cache=False,
            ).logits[0]
            logp = torch.log_softmax(logits.float(), dim=-1)
        sums, offset = [], 1
        for cont in conts:
            # Row 0 is the last prompt token; continuation token j>0 is predicted by row j-1
            # of its own span.
            rows = [0, *range(offset, offset + len(cont) - 1)]
            picked = logp[rows, torch.tensor(cont, device=logp.device)]
            sums.append(float(picked.sum()))
            offset += len(cont)
        return sums
