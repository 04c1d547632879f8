from collections import Counter

import numpy as np
import pytest

from pintsize.errors import DataError
from pintsize.review.config import QueueConfig
from pintsize.review.sampling import needs_second_review, select

IDS = [f"doc-{i}" for i in range(300)]
# An unbalanced corpus: 240 from one source, 50 and 10 from two others.
SOURCES = ["web"] * 240 + ["docs"] * 50 + ["code"] * 10
SCORES = np.random.default_rng(1).random(300)


def test_stratified_gives_every_prefix_an_equal_share_per_source():
    picked = select(IDS, SOURCES, None, QueueConfig(strategy="stratified", size=60))
    assert len(picked) == len(set(picked)) == 60
    first_30 = Counter(SOURCES[i] for i in picked[:30])
    assert first_30 == {"web": 10, "docs": 10, "code": 10}
    # once the small source runs out the others keep taking turns
    assert Counter(SOURCES[i] for i in picked) == {"web": 25, "docs": 25, "code": 10}


def test_threshold_takes_the_scores_nearest_the_threshold_nearest_first():
    picked = select(IDS, SOURCES, SCORES, QueueConfig(strategy="threshold", size=20, threshold=0.3))
    distance = np.abs(SCORES - 0.3)
    assert sorted(picked) == sorted(np.argsort(distance)[:20].tolist())
    assert np.all(np.diff(distance[picked]) >= 0)


def test_threshold_ignores_missing_scores_and_needs_some():
    scores = SCORES.copy()
    scores[:150] = np.nan
    picked = select(IDS, SOURCES, scores, QueueConfig(strategy="threshold", size=300))
    assert sorted(picked) == list(range(150, 300))
    with pytest.raises(DataError, match="quality_score"):
        select(IDS, SOURCES, None, QueueConfig(strategy="threshold"))


def test_random_is_reproducible_unbiased_and_respects_exclusions():
    config = QueueConfig(strategy="random", size=100, seed=5)
    exclude = set(IDS[:50])
    picked = select(IDS, SOURCES, None, config, exclude=exclude)
    assert picked == select(IDS, SOURCES, None, config, exclude=exclude)
    assert picked != select(IDS, SOURCES, None, config.model_copy(update={"seed": 6}), exclude=exclude)
    assert not {IDS[i] for i in picked} & exclude
    # 100 of the 250 eligible: the 'web' share (190/250 = 76%) within a generous margin
    assert 60 <= sum(SOURCES[i] == "web" for i in picked) <= 90


def test_double_review_share_follows_the_fraction_and_is_stable_per_id():
    ids = [f"doc-{i}" for i in range(20000)]
    share = sum(needs_second_review(d, 0.1, seed=3) for d in ids) / len(ids)
    assert abs(share - 0.1) < 0.01  # binomial sd is 0.002
    assert needs_second_review("doc-7", 0.1, 3) == needs_second_review("doc-7", 0.1, 3)
    assert not any(needs_second_review(d, 0.0, 3) for d in ids[:1000])
    assert all(needs_second_review(d, 1.0, 3) for d in ids[:1000])
