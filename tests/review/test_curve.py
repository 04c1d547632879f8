import pytest

from pintsize.errors import DataError
from pintsize.review.curve import learning_curve, split_held_out


def _records(n):
    return [{"id": f"doc-{i}", "text": f"text {i}", "label": i % 2} for i in range(n)]


def test_held_out_documents_stay_held_out_as_labels_accumulate():
    records = _records(2000)
    train, test = split_held_out(records, 0.25, seed=0)
    assert abs(len(test) / len(records) - 0.25) < 0.03
    held = {r["id"] for r in test}
    for n in (10, 500, 1500):
        early_train, early_test = split_held_out(records[:n], 0.25, seed=0)
        assert {r["id"] for r in early_test} == held & {r["id"] for r in records[:n]}
        assert early_train == [r for r in records[:n] if r["id"] not in held]  # labelling order kept
    assert {r["id"] for r in split_held_out(records, 0.25, seed=1)[1]} != held


def test_a_curve_needs_held_out_labels():
    with pytest.raises(DataError, match="held-out"):
        learning_curve(_records(3), test_fraction=0.0001)
