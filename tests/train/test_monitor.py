"""Progress reporting: the peak-FLOPs lookup, MFU in the metrics, TensorBoard scalars, the
objective's own metrics."""

import shutil

import pytest
import torch

from pintsize.train import monitor
from train_helpers import SEQ, cpu_env, make_trainer, read_metrics, series, train_config


@pytest.mark.parametrize(
    "name, peak",
    [("NVIDIA H200", 989e12), ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12),
     ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA GeForce GTX 1080", None)],
)
def test_peak_flops_by_device_name(monkeypatch, name, peak):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert monitor.peak_flops(torch.device("cuda", 0)) == peak


def test_no_peak_and_no_mfu_on_cpu(tmp_path, shards):
    assert monitor.peak_flops(torch.device("cpu")) is None
    make_trainer(tmp_path, shards, train_config(max_steps=2)).fit()
    assert all(r["mfu"] is None for r in read_metrics(tmp_path) if "loss" in r)


def test_mfu_is_throughput_times_flops_over_peak(tmp_path, shards, monkeypatch):
    monkeypatch.setattr(monitor, "peak_flops", lambda device: 1e9)  # pretend a 1 GFLOP/s device
    t = make_trainer(tmp_path, shards, train_config(max_steps=3, log_every=3))
    t.flops_per_token = 6e6
    t.fit()
    (record,) = [r for r in read_metrics(tmp_path) if "loss" in r]
    assert record["step"] == 3 and record["tokens"] == 3 * 4 * 64
    assert record["mfu"] == pytest.approx(record["tokens_per_s"] * 6e6 / 1e9, rel=1e-3)


def test_tensorboard_gets_the_same_scalars(tmp_path, shards):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    make_trainer(tmp_path, shards, train_config(max_steps=4, val_every=2)).fit()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx([r["loss"] for r in read_metrics(tmp_path) if "loss" in r])
    assert [e.step for e in events.Scalars("val/loss")] == [0, 2, 4]


def test_resume_drops_metrics_written_after_the_checkpoint_and_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 7, "loss": 2.0}\n{"step": 8, "val_loss": 2.1}\n{"step": 9, "loss": 1.9}\n{"step": 10, "lo')
    monitor.truncate_metrics(path, 8)
    assert path.read_text() == '{"step": 7, "loss": 2.0}\n{"step": 8, "val_loss": 2.1}\n'


def test_a_run_killed_before_its_first_checkpoint_starts_its_metrics_afresh(tmp_path, shards):
    make_trainer(tmp_path, shards, train_config(max_steps=3, ckpt_every=100, val_every=100)).fit()
    for ckpt in (tmp_path / "checkpoints").iterdir():  # as if killed before the final save
        shutil.rmtree(ckpt)
    make_trainer(tmp_path, shards, train_config(max_steps=3, ckpt_every=100, val_every=100)).fit()
    assert [r["step"] for r in read_metrics(tmp_path) if "loss" in r] == [1, 2, 3]
    assert [r["step"] for r in read_metrics(tmp_path) if "val_loss" in r] == [0, 3]


class MeanTargetId:
    """The LM objective plus one metric whose value a test can compute from the data alone: the
    sum of the target token ids, which the engine turns into their mean per target token."""

    def __init__(self):
        from pintsize.train.objective import LMObjective

        self.lm = LMObjective()

    def __call__(self, model, batch):
        loss, _ = self.lm(model, batch)
        targets = batch["targets"]
        return loss, {"mean_target_id": targets[targets != -100].double().sum()}

    def units(self, batch):
        return self.lm.units(batch)


def mean_target_id(batches) -> float:
    targets = torch.cat([b["targets"].flatten() for b in batches])
    kept = targets[targets != -100]
    return kept.double().sum().item() / kept.numel()


def test_objective_metrics_are_logged_for_training_and_validation(tmp_path, shards):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pintsize.data.loader import TokenLoader, eval_batches

    # 2 micro-batches of 2 rows per step, the metrics written every 2 steps
    cfg = train_config(max_steps=4, micro_batch_size=2, global_batch_tokens=4 * SEQ, log_every=2, val_every=2)
    make_trainer(tmp_path, shards, cfg, objective=MeanTargetId()).fit()

    loader = iter(TokenLoader(shards, "train", SEQ, 2, seed=cfg.seed))  # the batches the run trained on
    per_step = [mean_target_id([next(loader), next(loader)]) for _ in range(4)]
    logged = series(tmp_path, "mean_target_id")
    assert sorted(logged) == [2, 4]
    # the mean of each step's per-token mean over the logging interval, like the loss
    assert logged[2] == pytest.approx((per_step[0] + per_step[1]) / 2, rel=1e-6)
    assert logged[4] == pytest.approx((per_step[2] + per_step[3]) / 2, rel=1e-6)

    val = series(tmp_path, "val_mean_target_id")
    expected = mean_target_id(eval_batches(shards, "val", SEQ, 2, max_tokens=cfg.val_tokens))
    assert sorted(val) == [0, 2, 4] and val[0] == val[4] == pytest.approx(expected, rel=1e-6)

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.value for e in events.Scalars("train/mean_target_id")] == pytest.approx([logged[2], logged[4]])
    assert [e.value for e in events.Scalars("val/mean_target_id")] == pytest.approx([val[0], val[2], val[4]])


def test_an_objective_metric_may_not_overwrite_the_engines_keys(tmp_path):
    m = monitor.Monitor(tmp_path, cpu_env(), total_steps=1, start_step=0, tokens_per_step=64, flops_per_token=None)
    with pytest.raises(ValueError, match=r"\['val_tokens'\]"):
        m.validation(0, 1.0, 64, {"tokens": 3.0})
    with pytest.raises(ValueError, match=r"\['lr'\]"):
        m.step(1, 1.0, 1e-3, 0.5, log=True, metrics={"lr": 2.0})
    m.close()
