import numpy as np
import pytest

from pintsize.review.labeling import save_label
from pintsize.review.reviewers import add_reviewer
from pintsize.review.stats import counts_by_source, pair_agreement

ALICE = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
BOB = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
ALICE_VALUE = [5, 4, 4, 3, 3, 2, 1, 0, 0, 1]
BOB_VALUE = [4, 4, 5, 3, 1, 2, 0, 0, 1, 3]


def quadratic_kappa(a, b, k=6) -> float:
    """Weighted kappa from its definition: 1 - sum(w * observed) / sum(w * expected)."""
    observed = np.zeros((k, k))
    for x, y in zip(a, b):
        observed[x, y] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / len(a)
    w = np.subtract.outer(np.arange(k), np.arange(k)) ** 2 / (k - 1) ** 2
    return 1 - (w * observed).sum() / (w * expected).sum()


@pytest.fixture
def labelled(db, tokens):
    add_reviewer(db, "carol")
    with db.read() as conn:
        docs = [r["id"] for r in conn.execute("SELECT id FROM documents ORDER BY position")]
    for i, doc in enumerate(docs[:10]):
        save_label(db, "alice", doc, ALICE[i], ALICE_VALUE[i])
        save_label(db, "bob", doc, BOB[i], BOB_VALUE[i])
    for doc in docs[:3]:  # carol accepts the same three as alice: full agreement, kappa undefined
        save_label(db, "carol", doc, 1, 5)
    save_label(db, "carol", docs[20], 0, 0)
    return docs


def test_agreement_per_pair_matches_hand_computed_kappa(db, labelled):
    pairs = {tuple(p["reviewers"]): p for p in pair_agreement(db)}
    assert set(pairs) == {("alice", "bob"), ("alice", "carol"), ("bob", "carol")}
    ab = pairs[("alice", "bob")]
    assert ab["documents"] == 10 and ab["agreement"] == pytest.approx(0.8)
    # observed 0.8; both reviewers accept half, so chance agreement is 0.5: (0.8 - 0.5) / 0.5
    assert ab["kappa"] == pytest.approx(0.6)
    assert ab["educational_kappa"] == pytest.approx(quadratic_kappa(ALICE_VALUE, BOB_VALUE))
    ac = pairs[("alice", "carol")]
    assert ac["documents"] == 3 and ac["agreement"] == 1.0 and ac["kappa"] is None


def test_counts_per_source(db, labelled):
    with db.read() as conn:
        expected = {}
        for r in conn.execute("SELECT d.source, l.doc_id, l.label FROM labels l JOIN documents d ON d.id = l.doc_id"):
            e = expected.setdefault(r["source"], {"docs": set(), "accept": 0, "reject": 0})
            e["docs"].add(r["doc_id"])
            e["accept" if r["label"] else "reject"] += 1
    rows = {r["source"]: r for r in counts_by_source(db)}
    assert set(rows) == {"python-docs", "sharegpt"}
    assert sum(r["queued"] for r in rows.values()) == 40
    assert sum(r["accept"] + r["reject"] for r in rows.values()) == 10 + 10 + 3 + 1
    for source, e in expected.items():
        assert (rows[source]["labelled"], rows[source]["accept"], rows[source]["reject"]) == (len(e["docs"]), e["accept"], e["reject"])
