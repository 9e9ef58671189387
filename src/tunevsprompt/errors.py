"""User-facing errors. The CLI maps them to exit codes; messages never need a traceback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SuiteProblem:
    """One thing wrong with a suite file, located as precisely as we can."""

    file: str
    key_path: str
    message: str
    line: int | None = None
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key_path or '<root>'}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class SuiteError(Exception):
    """The suite (or data it names) is invalid. Exit code 2."""

    def __init__(self, problems: list[SuiteProblem]):
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class RunError(Exception):
    """Something failed while running. Exit code 3."""


class RegistryError(RunError):
    """An arm type or metric declared twice (a plugin or a ``register_*`` call under a
    built-in's name, or two plugins under one name), or a plugin that is not what its
    group expects. Exit code 3."""
