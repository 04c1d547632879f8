"""The learning curve: how well the quality classifier agrees with held-out human labels as it
is retrained on more of them.

A fixed share of labelled documents (chosen by a hash of the id, so a document never moves
between the sides as labels accumulate) is held out. The classifier is retrained on the seed
examples (if any) plus the first n human labels of the rest, in labelling order, for a few
growing n; each point is its accuracy on the held-out labels. n = 0 (seed examples only) is the
classifier before review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pintsize.errors import DataError
from pintsize.review import audit
from pintsize.review.sampling import uniform_of
from pintsize.review.storage import ReviewDB

_HELD_OUT_SALT = "held-out"


@dataclass
class CurvePoint:
    n_labels: int
    accuracy: float
    n_test: int


def split_held_out(records: Sequence[dict], test_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(training records in their original order, held-out records)."""
    held = [uniform_of(f"{_HELD_OUT_SALT}:{r['id']}", seed) < test_fraction for r in records]
    return [r for r, h in zip(records, held) if not h], [r for r, h in zip(records, held) if h]


def learning_curve(
    records: Sequence[dict],
    positives: Sequence[str | Path] = (),
    negatives: Sequence[str | Path] = (),
    points: int = 6,
    test_fraction: float = 0.25,
    threshold: float = 0.5,
    seed: int = 0,
) -> list[CurvePoint]:
    """Held-out accuracy after training on growing prefixes of `records` (the review export, in
    labelling order). Sizes with too few examples of a class to train on are left out."""
    from pintsize.curate.quality import train_quality_model

    train, test = split_held_out(records, test_fraction, seed)
    if not test:
        raise DataError(f"learning curve: none of the {len(records)} labelled documents fell in the held-out share; label more")
    test_texts = [r["text"] for r in test]
    test_labels = np.array([r["label"] for r in test])
    first = 0 if (positives or negatives) else 1
    sizes = sorted({round(len(train) * k / points) for k in range(first, points + 1)})
    curve = []
    for n in sizes:
        try:
            model = train_quality_model(positives, negatives, train[:n], seed=seed)
        except DataError:
            continue  # not yet both classes
        predicted = model.score(test_texts) >= threshold
        curve.append(CurvePoint(n, float(np.mean(predicted == test_labels)), len(test)))
    return curve


def store_learning_curve(db: ReviewDB, curve: Sequence[CurvePoint]) -> None:
    """Replace the curve the stats page shows."""
    now = audit.now_iso()
    with db.write() as conn:
        conn.execute("DELETE FROM learning_curve")
        conn.executemany(
            "INSERT INTO learning_curve VALUES (?, ?, ?, ?)", [(p.n_labels, p.accuracy, p.n_test, now) for p in curve]
        )
