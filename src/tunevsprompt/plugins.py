"""Entry-point discovery shared by the arm and metric registries: every plugin of a group,
by name, refusing a name that a built-in or an in-process registration already holds (a
plugin never shadows a built-in, nor a built-in a plugin: both are errors)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib.metadata import EntryPoint, entry_points

from tunevsprompt.errors import RegistryError


def describe(entry: EntryPoint) -> str:
    """The entry point as a reader finds it in the plugin's packaging."""
    dist = entry.dist
    owner = f" of distribution {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {entry.name!r} = {entry.value!r}{owner} (group {entry.group})"


def discover(
    group: str, kind: str, builtins: Mapping[str, str], registered: Collection[str]
) -> dict[str, EntryPoint]:
    """The group's entry points by name. ``kind`` names what they declare in messages
    ("arm type", "metric"); ``builtins`` maps built-in names to where they live."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=group):
        if entry.name in builtins:
            raise RegistryError(
                f"the plugin {describe(entry)} declares {kind} {entry.name!r}, which is a "
                f"built-in {kind} ({builtins[entry.name]}); rename the plugin's {kind} or "
                "uninstall the plugin"
            )
        if entry.name in registered:
            raise RegistryError(
                f"the plugin {describe(entry)} declares {kind} {entry.name!r}, which this "
                f"process also registered in-process; use another name for one of them"
            )
        other = found.get(entry.name)
        if other is not None and other.value != entry.value:
            raise RegistryError(
                f"two plugins declare {kind} {entry.name!r}: the {describe(other)} and the "
                f"{describe(entry)}; uninstall one of them"
            )
        found[entry.name] = entry
    return found


def check_new_name(
    name: str, kind: str, builtins: Mapping[str, str], plugins: Mapping[str, EntryPoint]
) -> None:
    """An in-process registration may not take a built-in's or a plugin's name."""
    if name in builtins:
        raise RegistryError(
            f"cannot register {kind} {name!r}: it is a built-in {kind} ({builtins[name]}); "
            "choose another name"
        )
    if name in plugins:
        raise RegistryError(
            f"cannot register {kind} {name!r}: the plugin {describe(plugins[name])} "
            "declares it; choose another name"
        )
