"""Arms: each way of adapting the model is one arm, plugged in through the registry."""

from tunevsprompt.arms.base import Arm, ArmConfig, RunContext
from tunevsprompt.arms.registry import arm_types, get_arm_type

__all__ = ["Arm", "ArmConfig", "RunContext", "arm_types", "get_arm_type"]
