"""The divergence guard: NaN/inf and spikes skip a step; too many in a row stop the run."""

import math

import pytest
import torch

from pintsize.train.guard import MIN_HISTORY, SPIKE_FLOOR, WINDOW, DivergenceGuard, TrainingDiverged
from pintsize.train.objective import LMObjective
from train_helpers import make_trainer, read_metrics, train_config


def check(guard: DivergenceGuard, step: int, loss: float, grad_norm: float) -> str:
    """Judge a step on the device, then record it on the host, as the trainer does."""
    bad, mean = guard.judge(torch.tensor(loss), torch.tensor(grad_norm))
    return guard.record(step, loss, grad_norm, bool(bad), float(mean))


def test_guard_rules():
    g = DivergenceGuard(spike_threshold=3.0, max_bad=2)
    assert check(g, 1, math.nan, 1.0) == "loss is nan"
    assert check(g, 2, 4.0, 1.0) == ""  # a good step resets the count
    assert check(g, 3, 4.0, math.inf) == "gradient norm is inf"
    for s in range(MIN_HISTORY):
        assert check(g, 4 + s, 4.0, 1.0) == ""
    assert check(g, 10, 11.9, 1.0) == ""  # below 3x the mean of six 4.0s
    reason = check(g, 11, 15.5, 1.0)  # above 3x the mean of six 4.0s and 11.9: 3 x 5.1286 = 15.39
    assert reason == "loss 15.5 is more than 3x the recent mean 5.129"
    with pytest.raises(TrainingDiverged, match=r"2 steps in a row.*step 11.*step 12: loss is inf"):
        check(g, 12, math.inf, 1.0)


def test_guard_mean_is_over_the_last_accepted_steps_and_survives_a_restart():
    g = DivergenceGuard(spike_threshold=2.0, max_bad=99)
    for s in range(WINDOW + 5):  # the first five fall out of the window
        check(g, s, 100.0 if s < 5 else 1.0, 1.0)
    assert check(g, 30, 2.5, 1.0).endswith("2x the recent mean 1")  # 100s would have hidden the spike
    restored = DivergenceGuard(spike_threshold=2.0, max_bad=99)
    restored.load_state_dict(g.state_dict())
    assert check(restored, 31, 1.9, 1.0) == "" and check(restored, 32, 2.1, 1.0) != ""


def test_a_loss_near_zero_is_not_a_yardstick_for_spikes():
    """DPO's loss falls toward 0: a hard batch at 0.15 after steps at 1e-4 is no divergence, while a
    loss above 3x the floor still is."""
    g = DivergenceGuard(spike_threshold=3.0, max_bad=99)
    for s in range(MIN_HISTORY):
        assert check(g, s, 1e-4, 1.0) == ""
    assert check(g, 10, 0.15, 1.0) == ""  # 1,500x the mean, below 3 x SPIKE_FLOOR
    assert check(g, 11, 3 * SPIKE_FLOOR + 0.05, 1.0) != ""


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


@pytest.mark.parametrize("fused", [True, False], ids=["fused-adamw-skips-on-device", "foreach-adamw-host-skips"])
def test_bad_steps_are_skipped_and_logged(tmp_path, shards, fused):
    t = make_trainer(tmp_path, shards, train_config(max_steps=9, val_every=100, ckpt_every=100), objective=Poisoned({3: math.nan, 8: 20.0}))
    if not fused:
        t.optimizer = torch.optim.AdamW(t.optimizer.param_groups, foreach=True)
    snapshots = {}
    step = t.launch_step
    t.launch_step = lambda b: (r := step(b), snapshots.__setitem__(r.step, [p.detach().clone() for p in t.model.parameters()]))[0]
    t.fit()
    assert t.skipped_steps == 2
    # the optimizer's step count (its bias correction) skips them too
    assert bool(t.optimizer.defaults["fused"]) == fused
    assert all(s["step"].item() == 9 - 2 for s in t.optimizer.state.values())
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
