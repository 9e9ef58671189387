"""The suite's JSON schema, with each registered arm type's own keys."""

from __future__ import annotations

from typing import Any

from tunevsprompt.arms.registry import arm_types, get_arm_config_model
from tunevsprompt.suite.model import Suite


def suite_json_schema() -> dict[str, Any]:
    schema = Suite.model_json_schema()
    definitions = schema.setdefault("$defs", {})
    variants = []
    for name in arm_types():
        model = get_arm_config_model(name)
        arm_schema = model.model_json_schema()
        definitions.update(arm_schema.pop("$defs", {}))
        arm_schema["properties"]["type"] = {"const": name, "description": f"Arm type {name}."}
        definitions[model.__name__] = arm_schema
        variants.append({"$ref": f"#/$defs/{model.__name__}"})
    schema["properties"]["arms"]["items"] = {"oneOf": variants}
    definitions.pop("ArmEntry", None)
    return schema
