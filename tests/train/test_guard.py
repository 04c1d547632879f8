"""The divergence guard: NaN/inf and spikes skip a step; too many in a row stop the run."""

import math

import pytest
import torch

from pintsize.train.guard import MIN_HISTORY, DivergenceGuard, TrainingDiverged
from pintsize.train.objective import LMObjective
from train_helpers import make_trainer, read_metrics, train_config


def test_guard_rules():
    g = DivergenceGuard(spike_threshold=3.0, max_bad=2)
    assert not g.check(1, math.nan, 1.0).ok
    assert g.check(2, 4.0, 1.0).ok  # a good step resets the count
    assert "gradient norm is inf" in g.check(3, 4.0, math.inf).reason
    for s in range(MIN_HISTORY):
        assert g.check(4 + s, 4.0, 1.0).ok
    assert g.check(10, 11.9, 1.0).ok  # below 3x the mean of six 4.0s
    verdict = g.check(11, 15.5, 1.0)  # above 3x the mean of six 4.0s and 11.9 (15.39)
    assert not verdict.ok and "3x the recent mean" in verdict.reason
    with pytest.raises(TrainingDiverged, match=r"2 steps in a row.*step 11.*step 12: loss is inf"):
        g.check(12, math.inf, 1.0)


class Poisoned(LMObjective):
    """Multiplies the loss of chosen steps (one micro-batch per step) by a factor."""

    def __init__(self, bad: dict[int, float]):
        super().__init__()
        self.bad, self.calls = bad, 0

    def __call__(self, model, batch):
        loss, metrics = super().__call__(model, batch)
        if model.training:
            self.calls += 1
            loss = loss * self.bad.get(self.calls, 1.0)
        return loss, metrics


def test_bad_steps_are_skipped_and_logged(tmp_path, shards):
    t = make_trainer(tmp_path, shards, train_config(max_steps=9, val_every=100, ckpt_every=100), objective=Poisoned({3: math.nan, 8: 20.0}))
    snapshots = {}
    step = t.train_step
    t.train_step = lambda b: (r := step(b), snapshots.__setitem__(r.step, [p.detach().clone() for p in t.model.parameters()]))[0]
    t.fit()
    assert t.skipped_steps == 2
    for skipped in (3, 8):  # no update: the weights are those of the step before
        assert all(torch.equal(a, b) for a, b in zip(snapshots[skipped - 1], snapshots[skipped]))
    assert not all(torch.equal(a, b) for a, b in zip(snapshots[3], snapshots[4]))
    events = [r for r in read_metrics(tmp_path) if r.get("event") == "skipped step"]
    assert [e["step"] for e in events] == [3, 8]
    assert "loss is nan" in events[0]["reason"] and "3x the recent mean" in events[1]["reason"]


def test_too_many_bad_steps_stop_the_run(tmp_path, shards):
    cfg = train_config(max_steps=9, max_bad_steps=3, ckpt_every=2)
    t = make_trainer(tmp_path, shards, cfg, objective=Poisoned({4: math.inf, 5: math.nan, 6: math.inf}))
    with pytest.raises(TrainingDiverged, match=r"3 steps in a row were skipped .* checkpoint, .*step-0000004, is kept: "
                                               r"rerunning resumes there\. Raising \[pretrain\]\.spike_threshold"):
        t.fit()
    assert t.step == 6
