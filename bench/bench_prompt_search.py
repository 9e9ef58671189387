"""The prompt search's budget curve on Banking77: dev and test quality of the
`optimized-prompt` arm against the model calls it may spend, beside the hand-written
prompting arms it starts from.

The demo suite (suites/support-bot.yaml: 77 intents, 300 training and 154 test messages, the
packaged SmolLM2-135M) is run three times, each in its own run and cache folder so that no
run's seconds are paid by another's cached answers:

1. the hand-written prompting arms (zero-shot, few-shot, few-shot-similar) on the test split;
2. the suite's `optimized-prompt` arm at each budget of `--budgets` (default 130 and 260
   model calls), alone (`--arms`; its hand-written candidates are still read from the suite).

One table: per arm, the model calls spent, the search's seconds, the winner, its dev figure
(on the final dev set) and its test figure with 95% intervals, and test − dev. The dev
figures of the hand-written arms are the search's own (they are finalists of every search).
Each run folder's report.html has the search's chart (dev score against model calls).

    python bench/bench_prompt_search.py [--budgets 130 260] [--out bench-out/prompt-search]

About 15 minutes on 2 idle CPU cores. Measure on an idle machine: two torch processes at
once slow each other by up to 12x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import yaml

from tunevsprompt.execution.base import SilentObserver
from tunevsprompt.runner import RunOptions, run_compare
from tunevsprompt.suite.loader import load_suite

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "suites" / "support-bot.yaml"
ARM = "optimized-prompt"


def _suite_with_budgets(budgets: list[int], folder: Path) -> Path:
    """support-bot.yaml with one copy of its optimized-prompt arm per budget (in the suites
    folder, so its data paths resolve)."""
    raw = yaml.safe_load(SUITE.read_text(encoding="utf-8"))
    arms = raw["arms"]
    template = next(a for a in arms if a["name"] == ARM)
    copies = [
        {**template, "name": f"{ARM}-{b}", "budget": {**template["budget"], "model_calls": b}}
        for b in budgets
    ]
    raw["arms"] = [a for a in arms if a["name"] != ARM] + copies
    raw.pop("gates", None)
    path = SUITE.parent / f".bench-prompt-search-{os.getpid()}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _run(suite: Path, arms: list[str], out: Path) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    options = RunOptions(arms=arms, out=out, cache_dir=out.parent / f"{out.name}-cache")
    run = run_compare(load_suite(suite).select_arms(arms), options, SilentObserver())
    seconds = time.perf_counter() - began
    return json.loads((run / "results.json").read_text(encoding="utf-8")), seconds


def _ci(figure: dict[str, Any] | None) -> str:
    if not figure or figure.get("value") is None:
        return "–"
    low, high = figure.get("ci95") or (None, None)
    band = f" [{low:.3f}, {high:.3f}]" if low is not None else ""
    n = f" (n={figure['n']})" if figure.get("n") is not None else ""
    return f"{figure['value']:.3f}{band}{n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[130, 260])
    parser.add_argument("--out", type=Path, default=REPO / "bench-out" / "prompt-search")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    suite = _suite_with_budgets(args.budgets, args.out)
    hand = ["zero-shot", "few-shot", "few-shot-similar"]
    rows: list[dict[str, Any]] = []
    try:
        results, seconds = _run(suite, hand, args.out / "hand-written")
        hand_test = {n: results["arms"][n]["quality"] for n in hand}
        searches = {}
        for budget in args.budgets:
            name = f"{ARM}-{budget}"
            results, seconds = _run(suite, [name], args.out / name)
            searches[budget] = (results["arms"][name], seconds)
    finally:
        suite.unlink()
    first = searches[args.budgets[0]][0]["search"]
    for name in hand:
        entry = next(c for c in first["candidates"] if c["origin"] == f"arm:{name}")
        rows.append(
            {
                "arm": name,
                "calls": "–",
                "seconds": "–",
                "winner": "as written",
                "dev": entry["dev"],
                "test": hand_test[name],
            }
        )
    for budget, (arm, seconds) in searches.items():
        search = arm["search"]
        spent = search["spent"]
        winner = search["winner"]
        demos = winner["demonstrations"]
        rows.append(
            {
                "arm": f"{ARM} ({budget} calls)",
                "calls": f"{spent['model_calls']} ({spent['proposer_calls']} proposer)",
                "seconds": f"{spent['seconds']:.0f} (run {seconds:.0f})",
                "winner": f"{winner['origin']}, {demos['k']} {demos['strategy']}",
                "dev": winner["dev"],
                "test": arm["quality"],
            }
        )
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(
        "| arm | model calls spent | search s | winner | dev accuracy [95% CI] "
        "| test accuracy [95% CI] | test − dev |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        dev, test = row["dev"], row["test"]
        gap = (
            f"{test['value'] - dev['value']:+.3f}"
            if dev and test and dev.get("value") is not None
            else "–"
        )
        print(
            f"| {row['arm']} | {row['calls']} | {row['seconds']} | {row['winner']} | "
            f"{_ci(dev)} | {_ci(test)} | {gap} |"
        )
    (args.out / "table.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"run folders and table.json under {args.out}")


if __name__ == "__main__":
    main()
