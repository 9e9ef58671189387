"""The LoRA arm: low-rank adapters on the model's linear layers, trained with peft.

Evaluated merged into the weights by default (``merge_and_unload``: no extra latency);
the unmerged adapter's latency is measured too, because serving stacks differ.
"""

from __future__ import annotations

import copy
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


class LoraArmConfig(TuningConfig):
    """peft LoraConfig keys plus the shared training keys."""

    type: Literal["lora"] = "lora"
    r: int = Field(16, ge=1, description="Rank of the low-rank update.")
    alpha: int = Field(32, ge=1, description="Scaling numerator (update scaled by alpha/r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: Literal["all-linear"] | list[str] = Field(
        "all-linear",
        description="Modules to adapt: all-linear (every linear layer but the output head) "
        "or a list of module names, e.g. [q_proj, v_proj].",
    )
    merge: bool = Field(
        True, description="Evaluate with the adapter merged into the weights (merge_and_unload)."
    )
    measure_unmerged_latency: bool = Field(
        True, description="Also time the unmerged adapter (keeps a second copy of the model)."
    )


class LoraTrainable(CausalLMTrainable):
    """A peft LoRA model as the training loop sees it."""

    def __init__(self, model: Any, device: str, autocast: torch.dtype | None, pad_id: int):
        super().__init__(device, autocast, pad_id)
        self.model = model

    def parameters_to_train(self) -> dict[str, torch.nn.Parameter]:
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def last_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int
    ) -> torch.Tensor:
        # Positions from the mask, so left padding does not shift them.
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        logits: torch.Tensor = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            logits_to_keep=keep,
            use_cache=False,
        ).logits
        return logits

    def set_training(self, training: bool) -> None:
        self.model.train(training)


class LoraArm(TuningArm):
    config_model: ClassVar[type[TuningConfig]] = LoraArmConfig
    method: ClassVar[str] = "lora"

    def _lora(self) -> LoraArmConfig:
        assert isinstance(self.tuning, LoraArmConfig)
        return self.tuning

    def attach(self, base: HFGenerator) -> Any:
        from peft import LoraConfig, get_peft_model

        config = self._lora()
        peft_config = LoraConfig(
            r=config.r,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=config.target_modules,
            task_type="CAUSAL_LM",
        )
        # peft keeps adapter weights in float32 over bf16 base weights (fp32 master copy).
        return get_peft_model(base.model, peft_config, autocast_adapter_dtype=True)

    def trainable(self, peft_model: Any, base: HFGenerator) -> Trainable:
        autocast = autocast_dtype(base.device, base.dtype)
        return LoraTrainable(peft_model, base.device, autocast, base.tokenizer.pad_token_id)

    def build_inference_for_dev(self, peft_model: Any, base: HFGenerator) -> Generator:
        return base.derived(peft_model)

    def probed_as(self) -> str:
        if self._lora().merge:
            return "LoRA adapter merged into the weights"
        return "LoRA adapter applied (unmerged)"

    def build_inference(self, peft_model: Any, base: HFGenerator, adapter_sha: str) -> TunedModel:
        config = self._lora()
        peft_model.eval()
        variants: dict[str, HFGenerator] = {}
        if not config.merge:
            unmerged = base.derived(peft_model, adapter=f"lora:{adapter_sha}:unmerged")
            return TunedModel(unmerged, {}, {"merged": False})
        if config.measure_unmerged_latency:
            # merge_and_unload changes the weights in place; time the unmerged form on a copy.
            copy_model = copy.deepcopy(peft_model)
            variants["unmerged"] = base.derived(copy_model, adapter=f"lora:{adapter_sha}:unmerged")
        merged = peft_model.merge_and_unload()
        evaluated = base.derived(merged, adapter=f"lora:{adapter_sha}:merged")
        return TunedModel(evaluated, variants, {"merged": True, "latency_variants": list(variants)})
