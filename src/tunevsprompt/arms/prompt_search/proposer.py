"""What the proposer model is asked, and how its answers become instructions.

Grounded proposals follow MIPRO (Opsahl-Ong et al. 2024, "Optimizing Instructions and
Demonstrations for Multi-Stage Language Model Programs"): the proposer sees the task's
instruction, its labels and a sample of training examples, with one of a few "tips" that
push proposals apart. Reflections follow GEPA (Agrawal et al. 2025, "GEPA: Reflective Prompt
Evolution Can Outperform Reinforcement Learning"): the proposer sees the best instruction so
far and examples it got wrong, and writes a better one. Decoding is greedy, so a seed (which
picks the examples shown) fixes every proposal."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tunevsprompt.task.labels import LabelSet, answer_form
from tunevsprompt.task.types import Example, Message, Prompt

TIPS = (
    "Keep it short and direct.",
    "Say who writes these texts and what they usually want.",
    "Explain how to tell apart answers that are easy to confuse.",
    "Ask the reader to consider the whole text before answering.",
    "Describe the most common cases first.",
    "Write it as an expert briefing a new colleague.",
)
"""One per proposal, in turn (MIPRO's tips make proposals differ)."""

SHOWN_EXAMPLES = 8
SHOWN_LABELS = 40
SHOWN_FAILURES = 8
MAX_INPUT_CHARS = 240
MAX_INSTRUCTION_CHARS = 800
MAX_DESCRIPTION_CHARS = 160

SYSTEM = "You write instructions for an assistant that does one task. Reply with the text only."


@dataclass(frozen=True)
class Failure:
    """A dev example the best candidate got wrong."""

    input: str
    target: str
    answer: str


def _clip(text: str, limit: int = MAX_INPUT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _labels_line(labels: LabelSet | None) -> str:
    if labels is None:
        return ""
    forms = labels.shown()
    shown = ", ".join(forms[:SHOWN_LABELS])
    more = f" (and {len(forms) - SHOWN_LABELS} more)" if len(forms) > SHOWN_LABELS else ""
    return f"The possible answers are: {shown}{more}.\n"


def _answer(example: Example, labels: LabelSet | None) -> str:
    return answer_form(labels, example.target) if labels else _clip(example.target)


def grounded_request(
    instruction: str,
    labels: LabelSet | None,
    train: Sequence[Example],
    index: int,
    seed: int,
) -> Prompt:
    """The ``index``-th proposal's request: the task, labels, examples drawn for it, a tip."""
    rng = random.Random(f"{seed}-proposal-{index}")
    shown = rng.sample(list(train), min(SHOWN_EXAMPLES, len(train)))
    lines = "\n".join(f'- "{_clip(e.input)}" -> {_answer(e, labels)}' for e in shown)
    user = (
        f"The task, as currently described: {instruction}\n"
        f"{_labels_line(labels)}"
        f"Examples of inputs and their correct answers:\n{lines}\n\n"
        f"Tip: {TIPS[index % len(TIPS)]}\n"
        "Write a new instruction for this task, in at most three sentences."
    )
    return (Message("system", SYSTEM), Message("user", user))


def reflection_request(
    instruction: str, labels: LabelSet | None, failures: Sequence[Failure]
) -> Prompt:
    """Ask for a better instruction from the current best one's mistakes."""
    lines = "\n".join(
        f'- "{_clip(f.input)}": the answer was {f.target}, the assistant said {_clip(f.answer, 80)}'
        for f in failures[:SHOWN_FAILURES]
    )
    user = (
        f"An assistant was given this instruction: {instruction}\n"
        f"{_labels_line(labels)}"
        f"It got these examples wrong:\n{lines}\n\n"
        "Write an improved instruction that would avoid these mistakes, in at most three "
        "sentences."
    )
    return (Message("system", SYSTEM), Message("user", user))


def description_request(form: str, examples: Sequence[Example]) -> Prompt:
    """Ask for one line that says what inputs with this label are about."""
    lines = "\n".join(f'- "{_clip(e.input)}"' for e in examples)
    user = (
        f"These texts all have the label {form}:\n{lines}\n\n"
        "In one short line, describe what texts with this label are about."
    )
    return (
        Message("system", "You describe categories of texts. Reply with one line only."),
        Message("user", user),
    )


_PREFIX = re.compile(r"^(new |improved )?(instruction|description)\s*:\s*", re.I)


def parse_instruction(text: str) -> str | None:
    """The instruction in the proposer's answer: its first paragraph, without a label such as
    "Instruction:" or surrounding quotes; None when nothing usable is left."""
    paragraph = text.strip().split("\n\n")[0].strip()
    paragraph = _PREFIX.sub("", paragraph).strip().strip('"').strip()
    paragraph = " ".join(paragraph.split())
    if len(paragraph) < 12:
        return None
    return paragraph[:MAX_INSTRUCTION_CHARS]


def parse_description(text: str) -> str | None:
    line = text.strip().split("\n")[0].strip()
    line = _PREFIX.sub("", line).strip().strip('"').strip()
    if len(line) < 3:
        return None
    return line[:MAX_DESCRIPTION_CHARS]
