"""The soft-prompt arm: peft prompt tuning (learned virtual-token embeddings before the
input; the model's weights stay frozen).

Training and inference both place the virtual tokens themselves (``HFGenerator``'s
``soft_prompt``) rather than relying on ``PeftModel.generate``, which has silently dropped
them before (peft issue 2123); a test checks the result against peft's own forward, and
the integrity check compares every run with the base model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from tunevsprompt.arms.tuning import TunedModel, TuningArm
from tunevsprompt.arms.tuning_config import TuningConfig
from tunevsprompt.generation.base import Generator
from tunevsprompt.training.answer_loss import CausalLMTrainable
from tunevsprompt.training.devices import autocast_dtype

if TYPE_CHECKING:
    import torch

    from tunevsprompt.generation.hf import HFGenerator
    from tunevsprompt.training.loop import Trainable


class SoftPromptConfig(TuningConfig):
    """peft PromptTuningConfig keys plus the shared training keys."""

    type: Literal["soft-prompt"] = "soft-prompt"
    learning_rate: float = Field(
        3e-2, gt=0, description="Peak learning rate (AdamW); prompt tuning needs a large one."
    )
    num_virtual_tokens: int = Field(20, ge=1, description="Length of the learned prompt.")
    init: Literal["text", "random"] = Field(
        "text",
        description="Start from the embeddings of `init_text` (repeated to length) or random.",
    )
    init_text: str | None = Field(
        None, description="Text for init: text. Default: the task instruction."
    )


class SoftPromptTrainable(CausalLMTrainable):
    """Virtual tokens + frozen model, fed the same way ``HFGenerator`` feeds them."""

    def __init__(self, peft_model: Any, device: str, autocast: torch.dtype | None, pad_id: int):
        super().__init__(device, autocast, pad_id)
        self.peft_model = peft_model
        self.model = peft_model.base_model
        self.embedding = peft_model.prompt_encoder[peft_model.active_adapter].embedding

    def parameters_to_train(self) -> dict[str, torch.nn.Parameter]:
        return {"prompt_embeddings": self.embedding.weight}

    def last_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int
    ) -> torch.Tensor:
        import torch

        from tunevsprompt.generation.hf import with_soft_prompt

        batch, virtual = input_ids.shape[0], self.embedding.weight.shape[0]
        inputs = with_soft_prompt(self.model, self.embedding.weight, input_ids, attention_mask)
        # Left padding: text positions come from the mask, after the virtual tokens.
        text_positions = (attention_mask.cumsum(-1) - 1).clamp(min=0) + virtual
        virtual_positions = torch.arange(virtual, device=input_ids.device)[None].expand(batch, -1)
        logits: torch.Tensor = self.model(
            **inputs,
            position_ids=torch.cat([virtual_positions, text_positions], dim=1),
            logits_to_keep=keep,
            use_cache=False,
        ).logits
        return logits

    def set_training(self, training: bool) -> None:
        self.peft_model.train(training)


class SoftPromptArm(TuningArm):
    config_model: ClassVar[type[TuningConfig]] = SoftPromptConfig
    method: ClassVar[str] = "soft-prompt"

    def _soft(self) -> SoftPromptConfig:
        assert isinstance(self.tuning, SoftPromptConfig)
        return self.tuning

    def attach(self, base: HFGenerator) -> Any:
        from peft import PromptTuningConfig, PromptTuningInit, get_peft_model

        config = self._soft()
        options: dict[str, Any] = {}
        if config.init == "text":
            assert self._ctx is not None
            options = {
                "prompt_tuning_init": PromptTuningInit.TEXT,
                "prompt_tuning_init_text": config.init_text
                or config.instruction
                or self._ctx.task.instruction,
                "tokenizer_name_or_path": str(base.resolved.path_or_id),
            }
        peft_config = PromptTuningConfig(
            task_type="CAUSAL_LM", num_virtual_tokens=config.num_virtual_tokens, **options
        )
        peft_model = get_peft_model(base.model, peft_config)
        # The learned prompt is the only trainable tensor: keep it in float32 (master copy)
        # whatever the base weights are.
        peft_model.prompt_encoder[peft_model.active_adapter].float()
        return peft_model

    def trainable(self, peft_model: Any, base: HFGenerator) -> Trainable:
        autocast = autocast_dtype(base.device, base.dtype)
        return SoftPromptTrainable(peft_model, base.device, autocast, base.tokenizer.pad_token_id)

    def _prompt_weights(self, peft_model: Any) -> torch.Tensor:
        weights: torch.Tensor = peft_model.get_prompt_embedding_to_save(peft_model.active_adapter)
        return weights

    def build_inference_for_dev(self, peft_model: Any, base: HFGenerator) -> Generator:
        return base.derived(peft_model.base_model, soft_prompt=self._prompt_weights(peft_model))

    def probed_as(self) -> str:
        return (
            "soft prompt applied (virtual tokens before every input); the model without it is "
            "the base model"
        )

    def build_inference(self, peft_model: Any, base: HFGenerator, adapter_sha: str) -> TunedModel:
        weights = self._prompt_weights(peft_model)
        evaluated = base.derived(
            peft_model.base_model, soft_prompt=weights, adapter=f"soft-prompt:{adapter_sha}"
        )
        return TunedModel(evaluated, {}, {"virtual_tokens": int(weights.shape[0])})
