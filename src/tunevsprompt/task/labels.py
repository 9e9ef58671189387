"""Label sets: the surface form the model sees, and mapping model text back to a label.

FINDINGS.md: a single capitalised label (``Refund_not_showing_up``) won the rank argmax on most
examples because replies start capitalised. So every label is shown to the model in one
consistent form (lower case, underscores as spaces) and mapped back afterwards.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

ParseMode = Literal["exact", "normalised", "nearest"]
NEAREST_MIN_SIMILARITY = 0.5

_NON_WORD = re.compile(r"[^\w\s]|_")


def surface_form(label: str) -> str:
    return " ".join(label.replace("_", " ").lower().split())


def normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


@dataclass
class LabelSet:
    """The task's labels, with the form each is shown in and how outputs map back."""

    labels: list[str]
    surface: dict[str, str] = field(init=False)
    _by_surface: dict[str, str] = field(init=False, repr=False)
    _by_normalised: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        forms = {label: surface_form(label) for label in self.labels}
        if len(set(forms.values())) < len(forms):
            forms = {label: label for label in self.labels}  # collisions: keep originals
        self.surface = forms
        self._by_surface = {form: label for label, form in forms.items()}
        self._by_normalised = {normalise(label): label for label in self.labels}
        self._by_normalised.update({normalise(form): label for label, form in forms.items()})

    def shown(self) -> list[str]:
        return [self.surface[label] for label in self.labels]

    def parse(self, text: str, mode: ParseMode = "nearest") -> tuple[str | None, str]:
        """Map generated text to a label. Returns (label or None, how: exact, normalised,
        contained, nearest or failed)."""
        stripped = text.strip()
        if stripped in self._by_surface:
            return self._by_surface[stripped], "exact"
        if stripped in self.labels:
            return stripped, "exact"
        if mode == "exact":
            return None, "failed"
        first_line = stripped.splitlines()[0] if stripped else ""
        norm = normalise(first_line)
        if norm in self._by_normalised:
            return self._by_normalised[norm], "normalised"
        padded = f" {norm} "
        contained = [n for n in self._by_normalised if n and f" {n} " in padded]
        if contained:
            return self._by_normalised[max(contained, key=len)], "contained"
        if mode == "normalised" or not norm:
            return None, "failed"
        return self._nearest(norm)

    def _nearest(self, norm: str) -> tuple[str | None, str]:
        best, best_ratio = None, 0.0
        for candidate, label in self._by_normalised.items():
            ratio = difflib.SequenceMatcher(None, norm, candidate).ratio()
            if ratio > best_ratio:
                best, best_ratio = label, ratio
        if best is None or best_ratio < NEAREST_MIN_SIMILARITY:
            return None, "failed"
        return best, "nearest"


def answer_form(labels: LabelSet | None, target: str) -> str:
    """How a target is shown to the model: its label's surface form, or the target itself
    (generation tasks, or a target outside the label set)."""
    return labels.surface.get(target, target) if labels else target


def is_parse_failure(how: str) -> bool:
    """The model did not produce a label (only a fuzzy match, or nothing, recovered one)."""
    return how in ("nearest", "failed")


def labels_from_data(targets: Sequence[str]) -> list[str]:
    return sorted(set(targets))
