"""Named configs have the reference sizes; bad shapes and bad checkpoints get clear errors."""

import json

import pytest
import torch
from safetensors.torch import save_file

from pintsize.errors import CheckpointError, PintsizeError
from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import ModelConfig, get_config
from pintsize.model.hf import import_hf
from pintsize.model.info import flops_per_token
from pintsize.model.llama import Llama


def test_reference_parameter_counts():
    assert get_config("1.5-pints-2k").num_params() == 1_565_886_464  # DESIGN.md, exact
    assert get_config("1.5-pints-16k").num_params() == 1_565_886_464
    assert round(get_config("0.12-pint").num_params() / 1e6, 1) == 121.2
    # the formula agrees with a real module (built on the meta device: no memory)
    with torch.device("meta"):
        for name in ("1.5-pints-2k", "0.12-pint"):
            assert Llama(get_config(name)).num_params() == get_config(name).num_params()


def test_flops_per_token_hand_computed():
    cfg = get_config("0.12-pint")
    n = cfg.num_params() - cfg.padded_vocab_size * cfg.d_model  # without the input embedding
    assert flops_per_token(cfg, 2048) == 6 * n + 12 * 12 * 768 * 2048


def test_vocab_padded_to_multiple_of_64_and_tied_counts_once():
    cfg = get_config("tiny", vocab_size=8001, tie_embeddings=True)
    assert cfg.padded_vocab_size == 8064
    model = Llama(cfg)
    assert model.lm_head.weight is model.tok_emb.weight
    assert model.num_params() == cfg.num_params()


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"n_head \(6\) must be divisible by n_kv_head \(4\)"):
        ModelConfig(n_layer=1, d_model=48, n_head=6, n_kv_head=4, d_ff=64)
    with pytest.raises(PintsizeError, match="unknown model 'llama-70b'"):
        get_config("llama-70b")


def test_checkpoint_with_wrong_shapes_names_the_tensor(tmp_path):
    cfg = get_config("tiny", vocab_size=500, n_layer=2)
    save_model(Llama(cfg), cfg, tmp_path)
    # the same weights under a config with a wider MLP
    (tmp_path / "model_config.json").write_text(cfg.model_copy(update={"d_ff": 400}).model_dump_json())
    with pytest.raises(CheckpointError, match=r"blocks\.0\.mlp\.gate_up\.weight has shape \(704, 128\) but the config needs \(800, 128\)"):
        load_model(tmp_path)


def test_hf_dir_that_is_not_llama(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    save_file({"x": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="not a Llama model.*gpt2"):
        import_hf(tmp_path)
    with pytest.raises(CheckpointError, match="no config.json"):
        import_hf(tmp_path / "missing")
