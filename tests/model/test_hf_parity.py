"""Our Llama and transformers' LlamaForCausalLM compute the same logits from the same weights,
in both directions: exported by us and loaded by transformers, and imported from transformers."""

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import ModelConfig
from pintsize.model.hf import export_hf, import_hf, to_hf_config
from pintsize.model.llama import Llama

SHAPES = {
    "mha-untied": dict(n_head=4, n_kv_head=4, tie_embeddings=False),
    "gqa-tied": dict(n_head=4, n_kv_head=2, tie_embeddings=True),
    "mqa-untied": dict(n_head=4, n_kv_head=1, tie_embeddings=False),
    "mqa-tied-rope-scaled": dict(n_head=8, n_kv_head=1, tie_embeddings=True, rope_base=500.0, rope_scaling={"factor": 2.0}),
}


def random_config(**kw) -> ModelConfig:
    # vocab 1000 is not a multiple of 64: exercises the padding to 1024.
    return ModelConfig(name="parity", vocab_size=1000, n_layer=2, d_model=64, d_ff=160, block_size=128, **kw)


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Random weights everywhere, norms included, so that no tensor's mapping can hide behind ones/zeros."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if p.ndim == 1 else 0.0))


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_export_loads_in_transformers_with_same_logits(shape, tmp_path):
    cfg = random_config(**SHAPES[shape])
    ours = Llama(cfg).eval()
    randomize(ours, seed=1)
    save_model(ours, cfg, tmp_path / "ours")
    export_hf(tmp_path / "ours", tmp_path / "hf")
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert isinstance(theirs, LlamaForCausalLM)
    x = torch.randint(0, cfg.vocab_size, (2, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x).logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_import_from_transformers_with_same_logits(shape, tmp_path):
    cfg = random_config(**SHAPES[shape])
    hf_cfg = to_hf_config(cfg)
    hf_cfg.vocab_size = cfg.vocab_size  # an unpadded HF vocabulary: import pads it
    theirs = LlamaForCausalLM(hf_cfg).eval()
    randomize(theirs, seed=2)
    theirs.save_pretrained(tmp_path / "hf")
    ours = import_hf(tmp_path / "hf").eval()
    assert ours.config.padded_vocab_size == 1024
    x = torch.randint(0, cfg.vocab_size, (2, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = theirs(x).logits
        assert torch.allclose(ours(x)[..., : cfg.vocab_size], ref, atol=1e-4, rtol=0)
    # and our own checkpoint format round-trips the imported weights
    save_model(ours, ours.config, tmp_path / "ours")
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "ours")(x), ours(x))


def test_export_writes_generation_config_and_legacy_rope_keys(tmp_path):
    import json

    cfg = random_config(n_head=4, n_kv_head=2, rope_base=12345.0)
    save_model(Llama(cfg), cfg, tmp_path / "ours")
    export_hf(tmp_path / "ours", tmp_path / "hf", dtype=torch.bfloat16)
    conf = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert conf["rope_theta"] == 12345.0 and conf["vocab_size"] == 1024 and conf["num_key_value_heads"] == 2
    gen = json.loads((tmp_path / "hf" / "generation_config.json").read_text())
    assert gen["bos_token_id"] == 1 and gen["eos_token_id"] == 2
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "hf").dtype == torch.bfloat16
