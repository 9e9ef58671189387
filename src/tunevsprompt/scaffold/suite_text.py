"""The suite `tvp init` writes: YAML with a comment on every choice, the arms picked for the
task type and for the machine (a GPU affords the arms that train an LLM longer)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tunevsprompt.scaffold.profile import DataProfile

CPU_TEST_EXAMPLES = 200
"""About this many test examples on CPU keep a first run within minutes per LLM arm."""
CPU_TRAIN_MAX = 1000


@dataclass
class SuitePlan:
    """What the suite says beyond the profile: its name, data paths relative to the suite's
    folder (or a DatasetDict folder and its split names), and the machine it targets."""

    name: str
    files: dict[str, str]
    dataset: str | None
    split_names: dict[str, str]
    gpu: bool
    instruction: str


def suite_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "my-task"
    return name if name[0].isalnum() else f"task-{name}"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _data_block(plan: SuitePlan) -> list[str]:
    lines = ["  data:"]
    if plan.dataset is not None:
        lines.append(f"    dataset: {_quoted(plan.dataset)}   # a saved DatasetDict folder")
        names = ", ".join(f"{k}: {_quoted(v)}" for k, v in plan.split_names.items())
        lines.append(f"    split_names: {{{names}}}")
    else:
        for split in ("train", "dev", "test"):
            if split in plan.files:
                lines.append(f"    {split}: {_quoted(plan.files[split])}")
    if "dev" not in plan.files and "dev" not in plan.split_names:
        lines.append("    # no dev split: 10% of train is carved off (dev_fraction), seeded")
    return lines


def _arms(profile: DataProfile, gpu: bool) -> list[str]:
    epochs = 3 if gpu else 1
    if profile.task_type == "classification":
        arms = [
            "  - {name: zero-shot, type: zero-shot, decide: rank}   # the model as it is",
            "  # the 8 training examples most similar to each input, as demonstrations",
            "  - {name: few-shot-similar, type: few-shot, k: 8, selection: similar, decide: rank}",
            "  # no LLM: frozen sentence embeddings, nearest neighbours or logistic regression",
            "  - {name: embed-knn, type: embed-knn, k: 10}",
            "  - {name: embed-linear, type: embed-linear}",
            "  # the sentence encoder trained end to end for the labels (no LLM)",
            "  - {name: encoder-finetune, type: encoder-finetune, epochs: 4}",
            "  # LoRA adapters trained on the train split; probed for forgetting",
            f"  - {{name: lora, type: lora, r: 8, learning_rate: 0.001, epochs: {epochs}}}",
        ]
        if gpu:
            arms += [
                "  - {name: soft-prompt, type: soft-prompt, learning_rate: 0.1, epochs: 5}",
                "  - {name: setfit, type: setfit}",
                "  # instructions and demonstrations searched on dev within a budget",
                "  - name: optimized-prompt",
                "    type: optimized-prompt",
                "    start_from: [zero-shot, few-shot-similar]",
                "    budget: {model_calls: 600}",
            ]
        return arms
    arms = [
        "  - {name: zero-shot, type: zero-shot, decide: generate, max_new_tokens: 64}",
        "  - name: few-shot-similar",
        "    type: few-shot",
        "    k: 4",
        "    selection: similar",
        "    decide: generate",
        "    max_new_tokens: 64",
        "  # no LLM: the answer of the most similar training example",
        "  - {name: nearest-answer, type: nearest-answer}",
        f"  - {{name: lora, type: lora, r: 8, learning_rate: 0.0005, epochs: {epochs}, "
        "decide: generate, max_new_tokens: 64}",
    ]
    return arms


def _sampling(profile: DataProfile, gpu: bool) -> list[str]:
    lines = ["sampling:", "  seed: 0"]
    if gpu:
        lines.append("  # every example is used; add test_per_class / train_max to cap them")
        return lines
    lines.append("  # caps for a first run on CPU (minutes per LLM arm); remove them for the")
    lines.append("  # final comparison: its intervals narrow with the square root of test size")
    if profile.labels:
        per_class = max(2, CPU_TEST_EXAMPLES // len(profile.labels))
        lines.append(f"  test_per_class: {per_class}")
    else:
        lines.append(f"  test_max: {CPU_TEST_EXAMPLES}")
    lines.append(f"  train_max: {CPU_TRAIN_MAX}")
    return lines


def render_suite(profile: DataProfile, plan: SuitePlan) -> str:
    device = "a GPU" if plan.gpu else "CPU only"
    lines = [
        f"# Written by `tvp init` for {device} from {profile.n_rows} rows.",
        *([f"# {profile.balance()}."] if profile.labels else []),
        "# Every key: `tvp schema`, docs/reference/suite.md. Check it with `tvp validate`,",
        "# see what a run costs with `tvp compare --dry-run`, then run `tvp compare`.",
        f"name: {plan.name}",
        "task:",
        f"  type: {profile.task_type}",
        *_data_block(plan),
        f"  input_field: {_quoted(profile.input_field)}",
        f"  target_field: {_quoted(profile.target_field)}",
        "  # What the model is asked to do, in plain words: say it as you would to a person.",
        f"  instruction: {_quoted(plan.instruction)}",
        "model:",
        "  # The packaged 135M model runs offline on CPU; name any hub id or local folder",
        "  # (e.g. HuggingFaceTB/SmolLM2-1.7B-Instruct) for a stronger one.",
        "  id: packaged:smollm2-135m-instruct",
        "  device: auto",
        "arms:",
        *_arms(profile, plan.gpu),
        *_sampling(profile, plan.gpu),
        "decision:",
        "  # the largest loss in the primary metric worth accepting for a cheaper arm",
        "  margin: 0.02",
        "pricing:",
        "  # a placeholder: put in what your compute costs (and gpu_usd_per_hour by GPU type,",
        "  # e.g. {H100: 2.5, default: 1.0}, for runs on a GPU)",
        "  cpu_usd_per_hour: 0.10",
        "",
    ]
    return "\n".join(lines)


def default_instruction(profile: DataProfile) -> str:
    if profile.task_type == "classification":
        return f"Read the {profile.input_field} and answer with its {profile.target_field}."
    return f"Read the {profile.input_field} and write the {profile.target_field}."
