"""A loaded suite: the validated model, its arms, and where each key sits in the file, so
that any later error can point at a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.suite.model import Suite
from tunevsprompt.suite.yaml_lines import KeyPath, did_you_mean, format_key_path, line_for


@dataclass(frozen=True)
class LoadedSuite:
    """A validated suite plus what is needed to point at its lines in later errors."""

    suite: Suite
    path: Path
    arms: list[ArmConfig]
    lines: dict[KeyPath, int]
    sha256: str
    shown_path: str
    """The suite path as the user gave it, for messages."""
    every_arm: list[ArmConfig] = field(default_factory=list)
    """Every arm of the file, also those ``--arms`` leaves out (an arm may start from
    another's settings); empty means ``arms``."""

    @property
    def all_arms(self) -> list[ArmConfig]:
        return self.every_arm or self.arms

    @property
    def folder(self) -> Path:
        return self.path.parent

    def problem(self, loc: KeyPath, message: str, hint: str | None = None) -> SuiteProblem:
        return SuiteProblem(
            self.shown_path, format_key_path(loc), message, line_for(self.lines, loc), hint
        )

    def data_path(self, loc: KeyPath) -> Path:
        """The resolved path of a data key (checked at load time to stay inside the folder)."""
        raw: Any = self.suite
        for part in loc:
            raw = getattr(raw, str(part))
        return (self.folder / str(raw)).resolve()

    def require_gated_arms(self, names: list[str]) -> None:
        """The arms the suite's gates name must be among those run (checked before running,
        so a complete run never ends in a usage error)."""
        gates = self.suite.gates
        problems = []
        for key in ("arm", "require_recommendation"):
            gated = getattr(gates, key, None) if gates else None
            if gated is not None and gated not in names:
                problems.append(
                    self.problem(
                        ("gates", key),
                        f"the gates need arm {gated!r}, which --arms leaves out",
                        f"add {gated} to --arms, or pass --no-gate",
                    )
                )
        if problems:
            raise SuiteError(problems)

    def select_arms(self, names: list[str]) -> LoadedSuite:
        """Only the named arms, in the given order (the CLI's --arms)."""
        known = {a.name: a for a in self.arms}
        problems = [
            SuiteProblem(
                self.shown_path,
                "arms",
                f"--arms names {n!r}, which is not an arm of this suite",
                None,
                did_you_mean(n, list(known)) or f"arms here: {', '.join(known)}",
            )
            for n in names
            if n not in known
        ]
        if problems:
            raise SuiteError(problems)
        return LoadedSuite(
            self.suite,
            self.path,
            [known[n] for n in names],
            self.lines,
            self.sha256,
            self.shown_path,
            self.all_arms,
        )
