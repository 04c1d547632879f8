"""Reduce decisions: quality cut and mixture weights/caps, deterministic."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pintsize.curate.config import DataConfig
from pintsize.curate.reduce import decide


def _index(n: int, sources: list[str], scores: np.ndarray | None = None, tokens: int = 100) -> pa.Table:
    cols = {
        "id": [f"{sources[i % len(sources)]}/{i}" for i in range(n)],
        "source": [sources[i % len(sources)] for i in range(n)],
        "tokens": pa.array([tokens] * n, pa.int64()),
        "exact_key": pa.array(range(n), pa.uint64()),
        "bands": pa.array([[i] * 14 for i in range(n)], pa.list_(pa.uint64())),
    }
    if scores is not None:
        cols["quality_score"] = pa.array(scores, pa.float64())
    return pa.table(cols)


def _config(**data) -> DataConfig:
    sources = data.pop("sources", [{"name": "a", "path": "x"}, {"name": "b", "path": "y"}])
    return DataConfig.model_validate({"sources": sources, **data})


def test_quality_threshold_and_top_percent():
    scores = np.linspace(0, 1, 200)
    d = decide(_index(200, ["a", "b"], scores), _config(quality={"model": "m", "threshold": 0.75}))
    assert d.steps == ("dedup_exact", "dedup_near", "quality")
    assert (d.copies == (scores >= 0.75)).all()
    d = decide(_index(200, ["a", "b"], scores), _config(quality={"model": "m", "top_percent": 10}))
    assert d.copies.sum() == 20 and d.copies[-20:].all()
    assert {r for r in d.reason if r} == {"below_threshold"}


def test_weights_subsample_or_repeat_deterministically():
    sources = [{"name": "a", "path": "x", "weight": 0.3}, {"name": "b", "path": "y", "weight": 2.5}]
    index = _index(2000, ["a", "b"])
    d = decide(index, _config(sources=sources))
    a, b = d.copies[0::2], d.copies[1::2]
    assert set(a) <= {0, 1} and abs(a.mean() - 0.3) < 0.05
    assert set(b) <= {2, 3} and abs(b.mean() - 2.5) < 0.05
    assert (decide(index, _config(sources=sources)).copies == d.copies).all()


def test_token_cap_keeps_the_best_documents_that_fit():
    sources = [{"name": "a", "path": "x", "max_tokens": 1000}, {"name": "b", "path": "y"}]
    scores = np.random.default_rng(0).random(100)
    d = decide(_index(100, ["a", "b"], scores, tokens=100), _config(sources=sources, quality={"model": "m", "threshold": 0.0}))
    a_kept = np.flatnonzero(d.copies[0::2])
    assert len(a_kept) == 10  # 10 x 100 tokens
    assert set(scores[0::2][a_kept]) == set(np.sort(scores[0::2])[-10:])
    assert d.copies[1::2].all() and {d.reason[i] for i in range(0, 100, 2) if d.reason[i]} == {"token_cap"}


def test_a_cut_that_keeps_all_or_none_of_a_source_is_warned_about():
    # Source a scores 0.8-1.0, source b 0.0-0.2: a threshold of 0.5 keeps all of a and none of b.
    scores = np.where(np.arange(200) % 2 == 0, np.linspace(0.8, 1.0, 200), np.linspace(0.0, 0.2, 200))
    q = decide(_index(200, ["a", "b"], scores), _config(quality={"model": "m", "threshold": 0.5})).summary["quality"]
    assert q["keep_share"] == 0.5 and q["heldout"] is None  # "m" is no model: nothing to say about precision
    assert q["warnings"] == [
        "quality threshold 0.5 keeps (nearly) all of source 'a': 100 of its 100 documents that reached the quality step",
        "quality threshold 0.5 keeps (nearly) none of source 'b': 0 of its 100 documents that reached the quality step",
    ]
    q = decide(_index(200, ["a", "b"], np.linspace(0, 1, 200)), _config(quality={"model": "m", "threshold": 0.5})).summary["quality"]
    assert q["warnings"] == []


def test_a_share_of_the_input_keeps_the_best_of_what_reached_the_quality_step():
    """keep_input_fraction = 0.3 of 1,000 documents read keeps the best 300 of the 600 left, or all
    of them when fewer than 300 are left; keep_top_fraction ranks only what reached the step."""
    scores = np.random.default_rng(1).random(600)
    d = decide(_index(600, ["a"], scores), _config(quality={"model": "m", "keep_input_fraction": 0.3}), input_documents=1000)
    assert d.copies.sum() == 300 and set(scores[d.copies == 1]) == set(np.sort(scores)[-300:])
    q = d.summary["quality"]
    assert (q["reached"], q["kept"], q["input_documents"]) == (600, 300, 1000)
    d = decide(_index(200, ["a"], scores[:200]), _config(quality={"model": "m", "keep_input_fraction": 0.3}), input_documents=1000)
    assert d.copies.sum() == 200
    d = decide(_index(600, ["a"], scores), _config(quality={"model": "m", "keep_top_fraction": 0.3}), input_documents=1000)
    assert abs(d.copies.sum() - 180) <= 1  # 30% of the 600 that reached it
    with pytest.raises(ValueError, match="only one of"):
        _config(quality={"model": "m", "keep_input_fraction": 0.3, "threshold": 0.5})
