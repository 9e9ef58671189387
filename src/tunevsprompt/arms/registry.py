"""Arm registry: the built-in arms, third-party arms (entry points group
``tunevsprompt.arms``), and arm types registered in-process with ``register_arm``.

Built-in and plugin entries are ``"module:attr"`` strings resolved on first lookup, so
importing the registry imports no arm, and no arm module is imported until a suite names it.
A name is held by one of them only: a plugin or a ``register_arm`` call under a built-in's
name, a plugin under a registered name, or two plugins under one name, is a
``RegistryError`` that names both.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from tunevsprompt.errors import RegistryError
from tunevsprompt.plugins import check_new_name, describe, discover

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from tunevsprompt.arms.base import Arm, ArmConfig

BUILTIN_ARMS: dict[str, str] = {
    "zero-shot": "tunevsprompt.arms.prompting:ZeroShotArm",
    "few-shot": "tunevsprompt.arms.prompting:FewShotArm",
    "optimized-prompt": "tunevsprompt.arms.prompt_search.arm:OptimizedPromptArm",
    "rag": "tunevsprompt.arms.rag:RagArm",
    "lora": "tunevsprompt.arms.lora:LoraArm",
    "soft-prompt": "tunevsprompt.arms.soft_prompt:SoftPromptArm",
    "embed-knn": "tunevsprompt.arms.embedding:EmbedKnnArm",
    "embed-linear": "tunevsprompt.arms.embedding:EmbedLinearArm",
    "nearest-answer": "tunevsprompt.arms.embedding:NearestAnswerArm",
    "encoder-finetune": "tunevsprompt.arms.encoder.arm:EncoderFinetuneArm",
    "setfit": "tunevsprompt.arms.encoder.arm:SetFitArm",
}

ENTRY_POINT_GROUP = "tunevsprompt.arms"
KIND = "arm type"

_plugins: dict[str, EntryPoint] | None = None
_registered: dict[str, type[Arm]] = {}


class UnknownArmType(KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        matches = difflib.get_close_matches(name, known, n=1)
        self.suggestion: str | None = matches[0] if matches else None
        super().__init__(name)


def _discovered() -> dict[str, EntryPoint]:
    """The installed plugins, found once per process."""
    global _plugins
    if _plugins is None:
        _plugins = discover(ENTRY_POINT_GROUP, KIND, BUILTIN_ARMS, _registered)
    return _plugins


def register_arm(name: str, arm_class: type[Arm], *, replace: bool = False) -> None:
    """Make ``arm_class`` the arm type ``name`` in this process (a test, a notebook, a
    script that calls ``run_compare``), without packaging it. A built-in's or an installed
    plugin's name is refused; so is a name registered before, unless ``replace``.

    In-process registrations are seen by the local executor only: for arms run on a Ray
    cluster, install them as a plugin (entry point group ``tunevsprompt.arms``)."""
    check_new_name(name, KIND, BUILTIN_ARMS, _discovered())
    if name in _registered and not replace:
        raise RegistryError(
            f"arm type {name!r} is already registered ({_where(_registered[name])}); "
            "pass replace=True to replace it"
        )
    _registered[name] = _checked(arm_class, name, f"register_arm({name!r}, ...)")


def unregister_arm(name: str) -> None:
    """Forget an arm type registered in-process (built-ins and plugins stay)."""
    _registered.pop(name, None)


def arm_types() -> list[str]:
    """Every arm type a suite may name."""
    return sorted({*BUILTIN_ARMS, *_discovered(), *_registered})


def get_arm_type(name: str) -> type[Arm]:
    """The arm class registered under ``name`` (imported now, not before)."""
    plugins = _discovered()
    if name in _registered:
        return _registered[name]
    if name in BUILTIN_ARMS:
        module_name, _, attr = BUILTIN_ARMS[name].partition(":")
        found: type[Arm] = getattr(importlib.import_module(module_name), attr)
        return found
    if name in plugins:
        entry = plugins[name]
        return _checked(entry.load(), name, f"the plugin {describe(entry)}")
    raise UnknownArmType(name, arm_types())


def get_arm_config_model(name: str) -> type[ArmConfig]:
    return get_arm_type(name).config_model


def _where(arm_class: type[Any]) -> str:
    return f"{arm_class.__module__}:{arm_class.__qualname__}"


def _checked(arm_class: Any, name: str, source: str) -> type[Arm]:
    """``arm_class`` if it can be an arm type called ``name``; else a RegistryError that
    says what is missing."""
    from tunevsprompt.arms.base import ArmConfig

    def refuse(problem: str) -> RegistryError:
        return RegistryError(f"{source}: arm type {name!r} {problem}")

    if not isinstance(arm_class, type):
        raise refuse(f"must be a class, got {arm_class!r}")
    config_model = getattr(arm_class, "config_model", None)
    if not (isinstance(config_model, type) and issubclass(config_model, ArmConfig)):
        raise refuse(f"({_where(arm_class)}) needs config_model, a subclass of ArmConfig")
    missing = [m for m in ("prepare", "predict", "visible_texts") if not hasattr(arm_class, m)]
    if missing:
        raise refuse(f"({_where(arm_class)}) has no {', '.join(missing)} (see the Arm Protocol)")
    declared = config_model.model_fields["type"].annotation
    if get_origin(declared) is Literal and name not in get_args(declared):
        raise refuse(
            f"({_where(arm_class)}) has config_model {config_model.__name__}, whose type is "
            f"{declared}; declare it as Literal[{name!r}] or leave it a str"
        )
    checked: type[Arm] = arm_class
    return checked
