"""The embeddings-only warm-up ([pretrain].freeze_until_step): during it every weight but the
input embedding and the output head stays bit-identical (weight decay included), after it every
weight trains."""

import pytest
import torch

from pintsize.errors import RecipeError
from pintsize.recipe import parse_recipe
from pintsize.train.phases import is_embedding
from train_helpers import make_trainer, tiny_model_config, train_config


def _steps(trainer, n):
    it = iter(trainer.train_data)
    for _ in range(n):
        trainer.train_step([next(it) for _ in range(trainer.accum)])


def _weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.named_parameters()}


@pytest.mark.parametrize("tie", [True, False])
def test_only_embeddings_train_during_the_warm_up(tmp_path, shards, tie, monkeypatch):
    import train_helpers

    monkeypatch.setattr(train_helpers, "tiny_model_config", lambda **kw: tiny_model_config(tie_embeddings=tie, **kw))
    config = train_config(max_steps=5, freeze_until_step=3, optimizer=dict(lr=3e-3, warmup_steps=0, weight_decay=0.1))
    t = make_trainer(tmp_path, shards, config)
    start = _weights(t)
    assert ("lm_head.weight" in start) == (not tie)
    _steps(t, 3)
    warm = _weights(t)
    for name, w in warm.items():
        if is_embedding(name):
            assert not torch.equal(w, start[name]), name
        else:
            assert torch.equal(w, start[name]), name  # bit-identical: no update, no decay
    _steps(t, 1)
    after = _weights(t)
    assert all(not torch.equal(after[n], warm[n]) for n in after), [n for n in after if torch.equal(after[n], warm[n])]
    assert all(p.requires_grad for p in t.model.parameters())


def test_without_warm_up_every_weight_trains_from_step_one(tmp_path, shards):
    t = make_trainer(tmp_path, shards, train_config(max_steps=2, optimizer=dict(lr=3e-3, warmup_steps=0)))
    start = _weights(t)
    _steps(t, 1)
    assert all(not torch.equal(w, start[n]) for n, w in _weights(t).items())


def test_warm_up_longer_than_the_run_is_one_line():
    with pytest.raises(RecipeError, match=r"\[pretrain\]: freeze_until_step \(30\) is past the run's last step \(20\)"):
        parse_recipe({"pretrain": {"max_steps": 20, "freeze_until_step": 30}})
