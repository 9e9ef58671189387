"""Prompt construction shared by the prompting arms (and, later, the tuning arms).

Demonstrations are earlier chat turns (user: input, assistant: answer), so a chat model sees
the same format at inference that the demonstrations show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tunevsprompt.task.labels import LabelSet
from tunevsprompt.task.types import Message, Prompt


def label_listing(forms: Sequence[str], descriptions: Mapping[str, str] | None = None) -> str:
    """One line per label form, with its description after a colon when one is given."""
    described = descriptions or {}
    return "\n".join(
        f"- {form}: {described[form]}" if described.get(form) else f"- {form}" for form in forms
    )


def system_message(
    instruction: str,
    labels: LabelSet | None,
    show_labels: bool,
    descriptions: Mapping[str, str] | None = None,
) -> str:
    if labels is None or not show_labels:
        return instruction
    listing = label_listing(labels.shown(), descriptions)
    return f"{instruction}\n\nAnswer with exactly one of these labels and nothing else:\n{listing}"


def build_prompt(
    instruction: str,
    labels: LabelSet | None,
    query: str,
    demonstrations: Sequence[tuple[str, str]] = (),
    show_labels: bool = True,
    descriptions: Mapping[str, str] | None = None,
) -> Prompt:
    """System instruction (+ label list, described when ``descriptions`` maps label forms to
    a line each), demonstrations as turns, then the query."""
    messages = [Message("system", system_message(instruction, labels, show_labels, descriptions))]
    for demo_input, demo_answer in demonstrations:
        messages.append(Message("user", demo_input))
        messages.append(Message("assistant", demo_answer))
    messages.append(Message("user", query))
    return tuple(messages)
