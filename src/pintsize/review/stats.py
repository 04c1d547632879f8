"""What the stats page shows: agreement between reviewers, labels per source, the learning curve."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from pintsize.review.storage import ReviewDB


def _kappa(a: list[int], b: list[int], **kwargs) -> float | None:
    """Cohen's kappa, or None where it is undefined (both reviewers gave one same answer throughout)."""
    if len(set(a) | set(b)) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score  # imported here: it takes seconds, the app starts without it

    value = cohen_kappa_score(a, b, **kwargs)
    return None if math.isnan(value) else float(value)


def pair_agreement(db: ReviewDB) -> list[dict]:
    """For every pair of reviewers who labelled the same documents: how many, how often they
    agreed on accept/reject, Cohen's kappa on it, and quadratic-weighted kappa on educational value."""
    with db.read() as conn:
        rows = conn.execute("SELECT doc_id, reviewer, label, educational_value FROM labels").fetchall()
    by_doc: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for r in rows:
        by_doc[r["doc_id"]][r["reviewer"]] = (r["label"], r["educational_value"])
    pairs: dict[tuple[str, str], list[tuple[tuple[int, int], tuple[int, int]]]] = defaultdict(list)
    for labels in by_doc.values():
        for a, b in itertools.combinations(sorted(labels), 2):
            pairs[(a, b)].append((labels[a], labels[b]))
    out = []
    for (a, b), both in sorted(pairs.items()):
        la, lb = [x[0][0] for x in both], [x[1][0] for x in both]
        ea, eb = [x[0][1] for x in both], [x[1][1] for x in both]
        out.append(
            {
                "reviewers": [a, b],
                "documents": len(both),
                "agreement": sum(x == y for x, y in zip(la, lb)) / len(both),
                "kappa": _kappa(la, lb),
                "educational_kappa": _kappa(ea, eb, weights="quadratic", labels=list(range(6))),
            }
        )
    return out


def counts_by_source(db: ReviewDB) -> list[dict]:
    """Per source: documents in the queue, documents labelled, accept and reject labels."""
    with db.read() as conn:
        rows = conn.execute(
            """
            SELECT d.source,
                   COUNT(DISTINCT d.id) AS queued,
                   COUNT(DISTINCT l.doc_id) AS labelled,
                   COALESCE(SUM(l.label = 1), 0) AS accept,
                   COALESCE(SUM(l.label = 0), 0) AS reject
            FROM documents d LEFT JOIN labels l ON l.doc_id = d.id
            GROUP BY d.source ORDER BY d.source
            """
        ).fetchall()
    return [dict(r) for r in rows]


def stored_learning_curve(db: ReviewDB) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute("SELECT n_labels, accuracy, n_test, computed FROM learning_curve ORDER BY n_labels").fetchall()
    return [dict(r) for r in rows]
