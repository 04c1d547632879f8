"""The engine on real text: learning, gradient accumulation, the schedule, validation, finite data."""

import math

import pytest
import torch

from pintsize.data.loader import TokenLoader, eval_batches
from pintsize.train.schedule import lr_at
from train_helpers import SEQ, make_trainer, read_metrics, series, train_config


def test_tiny_model_lowers_validation_loss_on_real_text(tmp_path, shards):
    t = make_trainer(tmp_path, shards, train_config(max_steps=80, val_every=40, ckpt_every=80, log_every=20, val_tokens=4096))
    t.fit()
    val = series(tmp_path, "val_loss")
    assert sorted(val) == [0, 40, 80]
    assert val[0] == pytest.approx(math.log(512), abs=0.15)  # untrained: about uniform over the vocabulary
    assert val[80] < val[40] < val[0] - 1.0
    assert t.summary()["final_val_loss"] == val[80]


def run_losses(tmp_path, shards, **kw):
    t = make_trainer(tmp_path, shards, train_config(max_steps=4, val_every=100, ckpt_every=100, **kw))
    t.fit()
    return list(series(tmp_path, "loss").values()), [p.detach() for p in t.model.parameters()]


def test_gradient_accumulation_matches_one_big_batch(tmp_path, shards):
    """8 rows per step as 1x8, 2x4 or 4x2: the same steps. Micro-batches hold different numbers
    of target tokens (document boundaries), so this needs the global-batch normalization."""
    ref_loss, ref_w = run_losses(tmp_path / "a", shards, micro_batch_size=8, global_batch_tokens=8 * SEQ)
    for mb in (4, 2):
        loss, w = run_losses(tmp_path / f"mb{mb}", shards, micro_batch_size=mb, global_batch_tokens=8 * SEQ)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(w, ref_w))


def test_learning_rate_follows_the_schedule(tmp_path, shards):
    cfg = train_config(max_steps=12, val_every=100, ckpt_every=100)
    t = make_trainer(tmp_path, shards, cfg)
    t.fit()
    assert list(series(tmp_path, "lr").values()) == [lr_at(s, 12, cfg.optimizer) for s in range(1, 13)]
    assert t.optimizer.param_groups[0]["lr"] == lr_at(12, 12, cfg.optimizer) == cfg.optimizer.min_lr


def test_validation_never_counts_padding(tmp_path, shards):
    """The same validation tokens in batches of 3 and of 4 rows: different amounts of padding
    in the last batch, the same loss over the same number of target tokens."""
    t = make_trainer(tmp_path, shards)
    results = {}
    for rows in (3, 4):
        t.val_data = lambda: eval_batches(shards, "val", SEQ, rows, max_tokens=10 * SEQ)
        results[rows] = t.validate()
    padded = next(b for i, b in enumerate(eval_batches(shards, "val", SEQ, 3, max_tokens=10 * SEQ)) if i == 3)
    assert (padded["targets"][1:] == -100).all()  # the 4th batch of 3 rows has one real row
    assert results[3][1] == results[4][1] <= 10 * SEQ
    assert results[3][0] == pytest.approx(results[4][0], rel=1e-6)


class FirstBatches:
    """The first `n` batches of a loader: finite data, as an epoch of SFT data would be."""

    def __init__(self, loader, n):
        self.loader, self.n, self.taken = loader, n, 0

    def __iter__(self):
        for batch in self.loader:
            if self.taken == self.n:
                return
            self.taken += 1
            yield batch

    def state_dict(self):
        return {"taken": self.taken, "loader": self.loader.state_dict()}

    def load_state_dict(self, state):
        self.taken = state["taken"]
        self.loader.load_state_dict(state["loader"])


def test_run_ends_cleanly_when_the_data_runs_out(tmp_path, shards):
    data = FirstBatches(TokenLoader(shards, "train", SEQ, 2, seed=1234), 9)
    t = make_trainer(tmp_path, shards, train_config(micro_batch_size=2, max_steps=1000, val_every=1000, ckpt_every=1000), data=data)
    t.fit()
    assert t.step == 4  # 9 micro-batches of 2 rows make 4 full steps of 4 rows (accumulation 2)
    events = [r for r in read_metrics(tmp_path) if r.get("event")]
    assert events == [{"step": 4, "event": "training data exhausted", "planned_steps": 1000}]
    assert (tmp_path / "checkpoints" / "step-0000004").is_dir()
    assert sorted(series(tmp_path, "val_loss")) == [0, 4]


def test_the_host_reads_a_step_after_launching_the_next(tmp_path, shards):
    """fit() finishes step N only once step N+1 is queued (the GPU never waits for the host
    between steps), except before validation and checkpoints, which see a finished step."""
    t = make_trainer(tmp_path, shards, train_config(max_steps=6, val_every=3, ckpt_every=100))
    calls = []
    launch, finish = t.launch_step, t.finish
    t.launch_step = lambda b: (calls.append(("launch", t.step + 1)), launch(b))[1]
    t.finish = lambda p: (calls.append(("finish", p.step)), finish(p))[1]
    t.fit()
    assert calls == [
        ("launch", 1), ("launch", 2), ("finish", 1), ("launch", 3), ("finish", 2), ("finish", 3),  # step 3 validates
        ("launch", 4), ("launch", 5), ("finish", 4), ("launch", 6), ("finish", 5), ("finish", 6),  # 6: the last
    ]
    assert sorted(series(tmp_path, "loss")) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("fused", [True, False])
def test_clipping_gives_the_step_of_the_clipped_gradients(tmp_path, shards, fused):
    """One step with grad_clip: the weights are those AdamW reaches from the gradients scaled to the
    clip norm by torch's clip_grad_norm_ (the fused AdamW clips inside its kernel; the foreach one
    is handed clipped gradients), not those of the raw gradients. eps = 1 makes AdamW's first
    update depend on the gradients' scale."""
    import copy

    from pintsize.train.optim import param_groups
    from pintsize.train.schedule import lr_at

    opt = dict(lr=1e-2, min_lr=1e-3, warmup_steps=0, weight_decay=0.0, eps=1.0, grad_clip=0.05)
    config = train_config(max_steps=4, optimizer=opt)
    t = make_trainer(tmp_path, shards, config)
    if not fused:
        t.optimizer = torch.optim.AdamW(param_groups(t.model, config.optimizer), lr=1.0, eps=1.0, betas=config.optimizer.betas, foreach=True)
    start = copy.deepcopy(t.model)
    batches = t._next_micro_batches(iter(t.train_data))
    result = t.train_step(batches)

    def reference_step(clip: bool):
        model = copy.deepcopy(start)
        units = sum((b["targets"] != -100).sum() for b in batches)
        for b in batches:
            t.objective(model, {k: v for k, v in t.prepare(b).items()})[0].div(units).backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), opt["grad_clip"] if clip else float("inf"))
        adam = torch.optim.AdamW(param_groups(model, config.optimizer), lr=lr_at(1, 4, config.optimizer), eps=1.0, betas=config.optimizer.betas)
        adam.step()
        return model, norm

    clipped, norm = reference_step(clip=True)
    raw, _ = reference_step(clip=False)
    assert result.grad_norm == pytest.approx(norm.item(), rel=1e-5) and norm > 10 * opt["grad_clip"]  # clipping bites
    for (name, p), c, r in zip(t.model.named_parameters(), clipped.parameters(), raw.parameters()):
        assert torch.allclose(p, c, rtol=1e-5, atol=1e-7), name
    assert any(not torch.allclose(c, r, rtol=1e-3, atol=1e-6) for c, r in zip(clipped.parameters(), raw.parameters()))
