"""Prompt construction shared by the prompting arms (and, later, the tuning arms).

Demonstrations are earlier chat turns (user: input, assistant: answer), so a chat model sees
the same format at inference that the demonstrations show.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunevsprompt.task.labels import LabelSet
from tunevsprompt.task.types import Message, Prompt


def system_message(instruction: str, labels: LabelSet | None, show_labels: bool) -> str:
    if labels is None or not show_labels:
        return instruction
    listing = "\n".join(f"- {form}" for form in labels.shown())
    return f"{instruction}\n\nAnswer with exactly one of these labels and nothing else:\n{listing}"


def build_prompt(
    instruction: str,
    labels: LabelSet | None,
    query: str,
    demonstrations: Sequence[tuple[str, str]] = (),
    show_labels: bool = True,
) -> Prompt:
    """System instruction (+ label list), demonstrations as turns, then the query."""
    messages = [Message("system", system_message(instruction, labels, show_labels))]
    for demo_input, demo_answer in demonstrations:
        messages.append(Message("user", demo_input))
        messages.append(Message("assistant", demo_answer))
    messages.append(Message("user", query))
    return tuple(messages)
