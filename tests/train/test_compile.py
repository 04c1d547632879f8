"""torch.compile (per block, plus the fused cross-entropy) and activation checkpointing change
how the step is computed, never what it computes."""

import pytest

from train_helpers import make_trainer, series, train_config


def losses(tmp_path, shards, **kw):
    t = make_trainer(tmp_path, shards, train_config(max_steps=3, val_every=3, ckpt_every=3, **kw))
    t.fit()
    return list(series(tmp_path, "loss").values()) + list(series(tmp_path, "val_loss").values())


def test_compiled_and_checkpointed_steps_match_eager(tmp_path, shards):
    eager = losses(tmp_path / "eager", shards)
    assert losses(tmp_path / "ac", shards, activation_checkpointing=True) == pytest.approx(eager, rel=1e-6)
    # inductor fuses and reorders float operations: agreement to rounding, not bit for bit
    compiled = losses(tmp_path / "compiled", shards, compile=True, activation_checkpointing=True)
    assert compiled == pytest.approx(eager, rel=1e-4)
