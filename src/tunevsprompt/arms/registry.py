"""Arm registry: built-ins and third-party arms (entry points group ``tunevsprompt.arms``).

Entries are ``"module:attr"`` strings resolved on first lookup, so importing the registry
imports no arm, and no arm module is imported until a suite names it.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunevsprompt.arms.base import ArmConfig

BUILTIN_ARMS: dict[str, str] = {
    "zero-shot": "tunevsprompt.arms.prompting:ZeroShotArm",
    "few-shot": "tunevsprompt.arms.prompting:FewShotArm",
    "rag": "tunevsprompt.arms.rag:RagArm",
    "lora": "tunevsprompt.arms.lora:LoraArm",
    "soft-prompt": "tunevsprompt.arms.soft_prompt:SoftPromptArm",
    "embed-knn": "tunevsprompt.arms.embedding:EmbedKnnArm",
    "embed-linear": "tunevsprompt.arms.embedding:EmbedLinearArm",
    "nearest-answer": "tunevsprompt.arms.embedding:NearestAnswerArm",
}

ENTRY_POINT_GROUP = "tunevsprompt.arms"

_plugins: dict[str, str] | None = None


class UnknownArmType(KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        matches = difflib.get_close_matches(name, known, n=1)
        self.suggestion: str | None = matches[0] if matches else None
        super().__init__(name)


def _all_entries() -> dict[str, str]:
    global _plugins
    if _plugins is None:
        _plugins = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**_plugins, **BUILTIN_ARMS}


def arm_types() -> list[str]:
    """Every arm type a suite may name."""
    return sorted(_all_entries())


def get_arm_type(name: str) -> Any:
    """The arm class registered under ``name`` (imported now, not before)."""
    entries = _all_entries()
    if name not in entries:
        raise UnknownArmType(name, sorted(entries))
    module_name, _, attr = entries[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def get_arm_config_model(name: str) -> type[ArmConfig]:
    model: type[ArmConfig] = get_arm_type(name).config_model
    return model
