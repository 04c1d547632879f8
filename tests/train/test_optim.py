"""AdamW parameter groups: which tensors decay."""

import torch

from pintsize.model.llama import Llama
from pintsize.train.config import OptimizerConfig
from pintsize.train.optim import build_optimizer, param_groups
from train_helpers import tiny_model_config


def names(model, group):
    ids = {id(p) for p in group["params"]}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def test_norms_and_embedding_are_exempt_from_decay_by_default():
    model = Llama(tiny_model_config())
    decay, no_decay = param_groups(model, OptimizerConfig(weight_decay=0.1))
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert names(model, no_decay) == {"tok_emb.weight", "norm.weight"} | {
        f"blocks.{i}.{n}_norm.weight" for i in range(2) for n in ("attn", "mlp")
    }
    assert "lm_head.weight" in names(model, decay) and "blocks.1.mlp.down.weight" in names(model, decay)
    total = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert total == model.num_params()


def test_decay_everything_when_asked_and_tied_head_follows_embedding():
    model = Llama(tiny_model_config(tie_embeddings=True))
    groups = param_groups(model, OptimizerConfig(decay_norms_and_embeddings=True))
    assert len(groups) == 1 and sum(p.numel() for p in groups[0]["params"]) == model.num_params()
    decay, no_decay = param_groups(model, OptimizerConfig())
    assert "tok_emb.weight" in names(model, no_decay) and "lm_head.weight" not in names(model, decay)


def test_fused_adamw_on_cpu_with_recipe_betas():
    opt = build_optimizer(Llama(tiny_model_config()), OptimizerConfig(betas=(0.9, 0.95), eps=1e-8), torch.device("cpu"))
    assert opt.defaults["fused"] and opt.defaults["betas"] == (0.9, 0.95)
