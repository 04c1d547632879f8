"""Structured pruning: pruning nothing is the identity, a pruned model is an ordinary model
(loads, generates, exports to transformers with the same logits), and bad targets or calibration
data are one clear error."""

import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM

from pintsize.errors import PintsizeError
from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import ModelConfig
from pintsize.model.hf import export_hf
from pintsize.model.llama import Llama
from pintsize.model.prune import prune_artifact, prune_model, target_config
from pintsize.model.prune_importance import activation_importance, block_drop_loss

TEXT = ["The quick brown fox jumps over the lazy dog. " * 20, "Pack my box with five dozen liquor jugs. " * 20]


def tiny_config() -> ModelConfig:
    return ModelConfig(name="t", vocab_size=300, n_layer=3, d_model=64, n_head=4, n_kv_head=2, d_ff=96, block_size=64)


def randomized(cfg: ModelConfig, seed: int = 0) -> Llama:
    model = Llama(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if p.ndim == 1 else 0.0))
    return model


@pytest.fixture
def model_dir(tmp_path):
    cfg = tiny_config()
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=cfg.vocab_size, special_tokens=["[UNK]"]))
    (tmp_path / "tok").mkdir()
    tok.save(str(tmp_path / "tok" / "tokenizer.json"))
    save_model(randomized(cfg), cfg, tmp_path / "m", tokenizer_dir=tmp_path / "tok")
    (tmp_path / "calib.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXT))
    return tmp_path


def tokens(n=256, vocab=300):
    return np.random.default_rng(0).integers(0, vocab, n)


def test_pruning_nothing_is_bit_identical():
    model = randomized(tiny_config())
    imp = activation_importance(model, tokens(), seq_len=32, batch_size=4)
    same = prune_model(model, model.config, imp)
    x = torch.from_numpy(tokens(64)).view(2, 32)
    with torch.no_grad():
        assert torch.equal(model(x), same(x))


def test_importance_ranks_a_silenced_channel_and_head_last():
    model = randomized(tiny_config())
    with torch.no_grad():
        model.blocks[1].mlp.gate_up.weight[5].zero_()  # gate of channel 5: its activation is 0
        model.blocks[1].attn.qkv.weight[3 * 16 : 4 * 16].zero_()  # queries of head 3: uniform attention
        model.blocks[1].attn.qkv.weight[4 * 16 + 2 * 16 + 16 : 4 * 16 + 2 * 16 + 32].zero_()  # values of KV head 1 (heads 2, 3)
    imp = activation_importance(model, tokens(), seq_len=32, batch_size=4)
    assert imp.channels[1].argmin() == 5
    assert imp.heads[1][2] == 0 and imp.heads[1][3] == 0 and (imp.heads[1][:2] > 0).all()
    pruned_cfg = target_config(model.config, "n_kv_head=1,n_head=2,d_ff=80")
    pruned = prune_model(model, pruned_cfg, imp)
    # Block 1 kept KV group 0 (queries 0, 1): its q rows are the original heads 0 and 1.
    assert torch.equal(pruned.blocks[1].attn.qkv.weight[:32], model.blocks[1].attn.qkv.weight[:32])


def test_pruned_model_loads_generates_and_exports(model_dir):
    _, pruned = prune_artifact(model_dir / "m", model_dir / "p", "n_layer=2,d_model=48,n_head=2,d_ff=64", model_dir / "calib.jsonl", seq_len=32)
    assert (model_dir / "p" / "tokenizer" / "tokenizer.json").is_file()
    manifest = json.loads((model_dir / "p" / "manifest.json").read_text())
    assert manifest["stats"]["params_after"] == pruned.num_params() == pruned.config.num_params()
    assert len(manifest["stats"]["dropped_blocks"]) == 1
    loaded = load_model(model_dir / "p").eval()
    assert (loaded.config.n_layer, loaded.config.d_model, loaded.config.n_head, loaded.config.head_dim) == (2, 48, 2, 16)
    x = torch.from_numpy(tokens(40)).view(2, 20)
    with torch.no_grad():
        ours = loaded(x)
        next_tok = ours[:, -1].argmax(-1)  # generation: one greedy step through the KV cache agrees
        cache = loaded.new_kv_cache(2, 32)
        loaded(x, kv_cache=cache)
        step = loaded(next_tok[:, None], kv_cache=cache)[:, -1]
        assert torch.allclose(step, loaded(torch.cat([x, next_tok[:, None]], 1))[:, -1], atol=1e-5)
    export_hf(model_dir / "p", model_dir / "hf")
    theirs = AutoModelForCausalLM.from_pretrained(model_dir / "hf").eval()
    with torch.no_grad():
        assert torch.allclose(ours, theirs(x).logits[..., : ours.shape[-1]], atol=1e-4, rtol=0)


def test_parameter_target_fits_the_budget():
    # SmolLM2-135M's shape (only the config is built): widths round to multiples of 8.
    cfg = ModelConfig(vocab_size=49152, n_layer=30, d_model=576, n_head=9, n_kv_head=3, d_ff=1536, tie_embeddings=True)
    new = target_config(cfg, "67M")
    assert 0.97 * 67e6 < new.num_params() <= 67e6
    assert (new.n_layer, new.n_head, new.n_kv_head, new.head_dim) == (30, 9, 3, 64)


@pytest.mark.parametrize(
    "target, message",
    [
        ("10M", "more than the model has"),
        ("d_ff=200", "d_ff=200 is larger"),
        ("n_head=3", "not a multiple of n_kv_head=2"),
        ("n_head=4,n_kv_head=1", "cannot move a query head"),
        ("width=3", "bad part"),
    ],
)
def test_bad_targets_are_one_clear_error(target, message):
    with pytest.raises(PintsizeError, match=message):
        target_config(tiny_config(), target)


def test_missing_or_empty_calibration_is_one_clear_error(model_dir):
    with pytest.raises(PintsizeError, match="calibration data not found"):
        prune_artifact(model_dir / "m", model_dir / "p", "d_ff=64", model_dir / "nope.jsonl")
    (model_dir / "empty.jsonl").write_text("")
    with pytest.raises(PintsizeError, match="calibration data is empty"):
        prune_artifact(model_dir / "m", model_dir / "p", "d_ff=64", model_dir / "empty.jsonl")
    assert not (model_dir / "p").exists()


def _mean_ce(model: Llama, x: torch.Tensor) -> float:
    with torch.no_grad():
        logits = model(x[:, :-1])[..., : model.config.vocab_size]  # without the padded rows
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten()).item()


def test_block_drop_loss_is_the_loss_of_the_model_without_that_block():
    model = randomized(tiny_config())
    calib = tokens(4 * 33)
    drop = block_drop_loss(model, calib, seq_len=32, batch_size=3)  # 4 sequences of 33: batches of 3 and 1
    assert len(model.blocks) == 3  # the model is left whole
    x = torch.from_numpy(calib).view(4, 33)
    base = _mean_ce(model, x)
    imp = activation_importance(model, calib, seq_len=32, batch_size=4)
    for i in range(3):
        imp.blocks = torch.ones(3)
        imp.blocks[i] = 0.0  # prune_model drops block i
        without = prune_model(model, target_config(model.config, "n_layer=2"), imp)
        assert drop[i].item() == pytest.approx(_mean_ce(without, x) - base, abs=1e-5)


def test_loss_depth_score_drops_the_block_that_costs_least(model_dir):
    prune_artifact(model_dir / "m", model_dir / "p", "n_layer=2", model_dir / "calib.jsonl", seq_len=32, depth_score="loss")
    stats = json.loads((model_dir / "p" / "manifest.json").read_text())["stats"]
    assert stats["block_importance_kind"].startswith("loss increase")
    assert stats["dropped_blocks"] == [int(np.argmin(stats["block_importance"]))]
    with pytest.raises(PintsizeError, match="depth score 'nope': expected one of cosine, loss"):
        prune_artifact(model_dir / "m", model_dir / "q", "n_layer=2", model_dir / "calib.jsonl", depth_score="nope")


def test_importance_keeps_no_autograd_graph():
    # The calibration forwards run under no_grad: importances that carried a graph kept every
    # activation alive (20.8 GB on SmolLM2 with 65,536 calibration tokens).
    model = randomized(tiny_config()).requires_grad_(True)
    imp = activation_importance(model, tokens(), seq_len=32, batch_size=4)
    for t in (*imp.heads, *imp.channels, imp.embedding, imp.blocks):
        assert not t.requires_grad and t.grad_fn is None
