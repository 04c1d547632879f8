"""GGUF export, read back with the `gguf` package: every tensor (q/k un-permuted) and the tokenizer
metadata. The q/k permutation is checked against its meaning: interleaved RoPE on the permuted
weights computes what rotate-half RoPE computes on ours.

llama.cpp itself: no wheel of llama-cpp-python (or another prebuilt llama.cpp) installs on this
machine, and building one takes longer than CI allows. When PINTSIZE_LLAMA_SIMPLE names a built
`llama-simple` binary, the last test checks that llama.cpp generates our greedy tokens."""

import json
import os
import subprocess

import numpy as np
import pytest
import torch

from pintsize.errors import CheckpointError
from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import ModelConfig
from pintsize.model.gguf import export_gguf, permute_for_gguf
from pintsize.model.hf import to_hf_state_dict
from pintsize.model.llama import Llama, apply_rotary, rotary_cos_sin
from pintsize.tokenizer import TokenizerInfo, build_pints_tokenizer, load_tokenizer

gguf = pytest.importorskip("gguf")


def trained_bpe(out):
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer.hf_files import save_hf_tokenizer
    from pintsize.tokenizer.train import train_bpe_backend

    out.mkdir(parents=True)
    save_hf_tokenizer(train_bpe_backend((d["text"] for d in pydoc_documents(limit=40)), 1024), out)
    return out


@pytest.fixture(scope="module", params=["pints", "trained-bpe"])
def model_dir(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    tok = build_pints_tokenizer(root / "tok") if request.param == "pints" else trained_bpe(root / "tok")
    cfg = ModelConfig(name="gguf-test", vocab_size=TokenizerInfo.read(tok).vocab_size, n_layer=2, d_model=64,
                      n_head=4, n_kv_head=2, d_ff=160, block_size=256, rope_base=5000.0)
    torch.manual_seed(0)
    model = Llama(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0) if p.ndim == 2 else p.uniform_(0.5, 1.5)
    return save_model(model, cfg, root / "model", tokenizer_dir=tok)


def unpermute_from_gguf(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Interleaved rows back to rotate-half rows (the inverse of permute_for_gguf)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def field(reader, key):
    return reader.fields[key].contents()


def test_interleaved_rope_on_permuted_weights_equals_rotate_half_on_ours():
    cfg = ModelConfig(n_layer=1, d_model=64, n_head=4, n_kv_head=4, d_ff=64, vocab_size=64)
    hd, w = cfg.head_dim, torch.randn(64, 64)
    x = torch.randn(1, 7, 64)
    cos, sin = rotary_cos_sin(cfg, torch.arange(7)[None])
    ours = apply_rotary((x @ w.T).view(1, 7, 4, hd).transpose(1, 2), cos, sin)
    # llama.cpp's (Meta's) RoPE rotates adjacent pairs (2i, 2i+1) by angle pos * base^(-2i/hd)
    q = (x @ permute_for_gguf(w, 4).T).view(1, 7, 4, hd // 2, 2)
    ang = torch.arange(7)[:, None] * cfg.rope_base ** (-torch.arange(0, hd, 2) / hd)
    c, s = ang.cos()[None, :, None], ang.sin()[None, :, None]
    rot = torch.stack([q[..., 0] * c - q[..., 1] * s, q[..., 0] * s + q[..., 1] * c], dim=-1).view(1, 7, 64)
    theirs = unpermute_from_gguf(rot[0].T, 4).T.view(1, 7, 4, hd).transpose(1, 2)
    assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("dtype,atol", [("float32", 0.0), ("float16", 5e-3), ("bfloat16", 4e-2)])
def test_tensors_read_back(model_dir, tmp_path, dtype, atol):
    path = export_gguf(model_dir, tmp_path / "m.gguf", dtype=dtype)
    reader = gguf.GGUFReader(path)
    cfg = load_model(model_dir).config
    expected = to_hf_state_dict(load_model(model_dir).state_dict(), cfg)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.n_layer)
    got = {}
    for t in reader.tensors:
        data = t.data
        if t.tensor_type == gguf.GGMLQuantizationType.BF16:
            data = gguf.quants.dequantize(data, t.tensor_type)
        got[t.name] = torch.from_numpy(np.array(data, dtype=np.float32).reshape(tuple(reversed(t.shape.tolist()))))
    assert len(got) == len(expected)
    for hf_name, w in expected.items():
        g = got[names.get_name(hf_name, try_suffixes=(".weight",))]
        if hf_name.endswith("q_proj.weight"):
            g = unpermute_from_gguf(g, cfg.n_head)
        elif hf_name.endswith("k_proj.weight"):
            g = unpermute_from_gguf(g, cfg.n_kv_head)
        assert torch.allclose(g, w, atol=atol * w.abs().max().item(), rtol=0), hf_name
    assert field(reader, "llama.rope.freq_base") == 5000.0 and field(reader, "llama.context_length") == 256
    assert field(reader, "llama.attention.head_count_kv") == 2 and field(reader, "llama.block_count") == 2


def test_tokenizer_metadata(model_dir, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="gguf"):
        reader = gguf.GGUFReader(export_gguf(model_dir, tmp_path / "m.gguf"))
    assert not [r.getMessage() for r in caplog.records if "TemplateProcessing" in r.getMessage()]  # BOS before each pair member is known
    tok = load_tokenizer(model_dir / "tokenizer")
    tokens = field(reader, "tokenizer.ggml.tokens")
    vocab = tok.get_vocab()
    assert [vocab[t] for t in tokens] == list(range(len(tok)))
    assert field(reader, "tokenizer.ggml.bos_token_id") == tok.bos_token_id
    assert field(reader, "tokenizer.ggml.eos_token_id") == tok.eos_token_id == 2
    assert field(reader, "tokenizer.ggml.eot_token_id") == tok.convert_tokens_to_ids("<|eot_id|>")  # named, not guessed
    assert field(reader, "tokenizer.ggml.padding_token_id") == tok.pad_token_id
    assert field(reader, "tokenizer.ggml.add_bos_token") is True
    assert field(reader, "tokenizer.chat_template") == tok.chat_template
    types = field(reader, "tokenizer.ggml.token_type")
    assert types[tok.convert_tokens_to_ids("<|im_start|>")] == gguf.TokenType.CONTROL
    tj = json.loads((model_dir / "tokenizer" / "tokenizer.json").read_text())
    if tj["model"].get("byte_fallback"):  # the Pints tokenizer: SentencePiece-style
        assert field(reader, "tokenizer.ggml.model") == "llama"
        assert types[tok.convert_tokens_to_ids("<0x0A>")] == gguf.TokenType.BYTE
        assert field(reader, "tokenizer.ggml.add_space_prefix") is False  # "first" is not llama.cpp's "always"
    else:  # byte-level BPE with single-digit splitting
        assert field(reader, "tokenizer.ggml.model") == "gpt2"
        assert field(reader, "tokenizer.ggml.pre") == "starcoder"
        assert field(reader, "tokenizer.ggml.merges") == [" ".join(m) for m in tj["model"]["merges"]]


def test_bad_inputs_are_named_and_leave_no_file(model_dir, tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="dtype"):
        export_gguf(model_dir, tmp_path / "m.gguf", dtype="int4")
    bare = tmp_path / "bare"
    save_model(load_model(model_dir), load_model(model_dir).config, bare)
    with pytest.raises(CheckpointError, match="no tokenizer"):
        export_gguf(bare, tmp_path / "m.gguf")
    import pintsize.model.gguf as mod

    def broken(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mod, "_write_tensors", broken)
    with pytest.raises(RuntimeError):
        export_gguf(model_dir, tmp_path / "m.gguf")
    assert list(tmp_path.glob("*.gguf*")) == [] and list(tmp_path.glob(".m.gguf*")) == []


@pytest.mark.skipif(not os.environ.get("PINTSIZE_LLAMA_SIMPLE"), reason="set PINTSIZE_LLAMA_SIMPLE to a llama.cpp llama-simple binary")
def test_llama_cpp_generates_our_greedy_tokens(model_dir, tmp_path):
    from pintsize.serve.generate import Generator
    from pintsize.serve.sampling import SamplingParams

    path = export_gguf(model_dir, tmp_path / "m.gguf", dtype="float32")
    prompt = "The json module can encode 12345 objects"
    gen = Generator.load(model_dir, device="cpu")
    ids = gen.encode(prompt)
    ours = gen.tokenizer.decode(ids + gen.complete(ids, SamplingParams(max_new_tokens=24)).token_ids)
    run = subprocess.run([os.environ["PINTSIZE_LLAMA_SIMPLE"], "-m", str(path), "-n", "24", prompt], capture_output=True, check=True)
    assert run.stdout.decode("utf-8", "replace").strip() == ours
