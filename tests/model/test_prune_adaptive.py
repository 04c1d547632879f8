"""Adapt-Pruner's layer-adaptive pruning on tiny models: the sparsity update is the reference's
formula, a layer that barely turns the residual stream loses the most, the target is met, and a
model whose layers differ in width is an ordinary model (saves, loads, decodes with a KV cache,
exports to transformers by exact zero-padding)."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import LayerShape, ModelConfig
from pintsize.model.hf import export_hf, padded_to_envelope
from pintsize.model.llama import Llama
from pintsize.model.prune import PruneError
from pintsize.model.prune_adaptive import AMPLITUDE, STEP, adaptive_prune, head_layout, normalized
from pintsize.model.prune_importance import activation_importance


def config(**kw) -> ModelConfig:
    return ModelConfig(**{"name": "t", "vocab_size": 300, "n_layer": 4, "d_model": 96, "n_head": 6, "n_kv_head": 2,
                          "head_dim": 16, "d_ff": 160, "block_size": 64, **kw})


def model_with_an_idle_layer(idle: int = 2) -> Llama:
    """Random weights; block `idle` writes 20x less into the residual stream than the others."""
    model = Llama(config()).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if p.ndim == 1 else 0.0))
        model.blocks[idle].mlp.down.weight.mul_(0.05)
        model.blocks[idle].attn.proj.weight.mul_(0.05)
    return model


def tokens(n=512):
    return np.random.default_rng(0).integers(0, 300, n)


def test_one_substep_is_the_reference_update():
    model = model_with_an_idle_layer()
    imp = activation_importance(model, tokens(), 32, 4)
    want = (STEP - AMPLITUDE * normalized(imp.blocks)).clamp(0, 0.99)
    # By hand: normalized = centred, then divided by the largest |value|.
    b = imp.blocks - imp.blocks.mean()
    assert torch.allclose(normalized(imp.blocks), b / b.abs().max())
    result = adaptive_prune(model, int(0.9 * model.num_params()), tokens(), 32, 4)
    first = result.history[0]
    assert first["importance"] == pytest.approx(normalized(imp.blocks).tolist(), abs=1e-4)
    assert first["sparsity"] == pytest.approx(want.tolist(), abs=1e-4)
    assert first["sparsity"][int(imp.blocks.argmax())] == 0  # the most important layer: step - amplitude * 1
    assert int(imp.blocks.argmin()) == 2 and max(first["sparsity"]) == first["sparsity"][2]  # the idle layer goes first
    # Later sub-steps add to it, each from importance measured again on the pruned model.
    second = result.history[1]
    assert all(b >= a for a, b in zip(first["sparsity"], second["sparsity"]))


def test_layers_get_their_own_widths_and_the_target_is_met():
    model = model_with_an_idle_layer()
    before = model.config.num_params()
    target = int(0.75 * before)
    result = adaptive_prune(model, target, tokens(), 32, 4)
    cfg = result.model.config
    assert 0.95 * target <= cfg.num_params() <= target  # a head is ~4% of this tiny model
    assert cfg.num_params() == result.model.num_params()
    widths = [cfg.layer(i).d_ff for i in range(4)]
    assert len(set(widths)) > 1 and widths[2] == min(widths)  # the idle layer is the narrowest
    assert all(w % 8 == 0 for w in widths) and cfg.d_model == 96  # the hidden size is not pruned
    assert result.substeps > 3  # small steps, importance measured again before each


def test_head_layout_keeps_whole_groups_and_the_best_heads():
    shape = LayerShape(n_head=6, n_kv_head=2, d_ff=8)
    scores = torch.tensor([5.0, 4, 3, 9, 1, 1])  # group 0: 5 4 3, group 1: 9 1 1
    assert head_layout(scores, shape, 6) == (6, 2)
    assert head_layout(scores, shape, 5) == (6, 2)  # never fewer heads than asked for
    assert head_layout(scores, shape, 4) == (4, 2)  # 2 groups x 2 heads
    assert head_layout(scores, shape, 3) == (3, 1)  # 1 group x 3 heads: group 0 (12) over group 1 (11)
    assert head_layout(scores, shape, 2) == (2, 2)  # 2 x 1 (5 + 9) beats 1 x 2 (5 + 4 or 9 + 1)
    assert head_layout(scores, shape, 1) == (1, 1)


def test_an_unreachable_target_is_one_clear_error():
    model = model_with_an_idle_layer()
    with pytest.raises(PruneError, match="even one head and 8 MLP channels per layer leave"):
        adaptive_prune(model, 1000, tokens(), 32, 4)


def test_config_checks_per_layer_widths():
    with pytest.raises(ValueError, match="layers has 3 entries for n_layer = 4"):
        config(layers=[{"n_head": 6, "n_kv_head": 2, "d_ff": 160}] * 3)
    with pytest.raises(ValueError, match=r"layers\[1\] .* does not fit the envelope"):
        config(layers=[{"n_head": 6, "n_kv_head": 2, "d_ff": 160}, {"n_head": 4, "n_kv_head": 1, "d_ff": 160}] * 2)
    assert config(layers=[{"n_head": 6, "n_kv_head": 2, "d_ff": 160}] * 4).layers is None  # uniform: one form


@pytest.fixture(scope="module")
def non_uniform(tmp_path_factory):
    model = adaptive_prune(model_with_an_idle_layer(), 200_000, tokens(512), 32, 4).model
    return model, save_model(model, model.config, tmp_path_factory.mktemp("adaptive") / "m")


def test_non_uniform_model_saves_loads_and_decodes_with_a_kv_cache(non_uniform):
    model, path = non_uniform
    assert model.config.layers is not None
    again = load_model(path).eval()
    x = torch.from_numpy(tokens(40)).view(2, 20)
    with torch.no_grad():
        full = again(x)
        assert torch.equal(full, model(x))
        cache = again.new_kv_cache(2, 20)
        steps = [again(x[:, :12], kv_cache=cache)] + [again(x[:, t : t + 1], kv_cache=cache) for t in range(12, 20)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_non_uniform_model_exports_to_transformers_by_exact_padding(non_uniform, tmp_path):
    model, path = non_uniform
    state, env = padded_to_envelope(model.state_dict(), model.config)
    assert env.layers is None and (env.n_head, env.n_kv_head, env.d_ff) == (6, 2, 160)
    export_hf(path, tmp_path / "hf")
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    x = torch.from_numpy(tokens(48)).view(2, 24)
    with torch.no_grad():
        assert torch.allclose(model(x)[..., :300], theirs(x).logits[..., :300], atol=1e-5, rtol=0)
