"""A real llama.cpp (the `xllamacpp` wheel) loads our GGUF exports and decodes what `pintsize
generate` decodes: a model trained here, pruned models, and SmolLM2-135M imported into pintsize.

The agreement rule: walking llama.cpp's greedy tokens, each is the token `pintsize generate` chose,
unless our top-2 logit gap there is at most NEAR_TIE (F16 rounding can flip a near-tie); the first
such difference ends the comparison, as the continuations part. Up to there, llama.cpp's logprob of
every token is ours within a tolerance that depends on how llama.cpp computes:

- EXACT_TOL (1e-3) for an F32 file run in F32 throughout (F32 KV cache, flash attention off,
  `exact=True`). Only this checks the export itself (weights, shapes, metadata): any error in them
  moves logprobs by far more. Measured on SmolLM2 and its pruned 67M student (d_model 360, 9 heads
  of 64): 2.1e-4 and 1.6e-4.
- LOGPROB_TOL (1e-2) at llama.cpp's defaults, what users run. llama.cpp then keeps keys and values
  in F16, its CPU flash attention works in F16, and an F16 file's matrix products round their
  inputs to F16. How far that moves the logprobs depends on the model, not on the export: 6.0e-3 /
  6.6e-3 (F32 / F16 file) on SmolLM2, 1.8e-2 / 3.9e-2 on the pruned student, which is more
  sensitive to rounding (rounding attention's q, k, v to F16 inside pintsize moves its logprobs
  5.4e-3 against SmolLM2's 3.3e-3). So the default-settings checks hold the models here to 1e-2, and
  the pruned models are checked with `exact=True` (benchmarks/llama_cpp_precision.py; RESULTS, 2026-12-07).

The chat path runs the GGUF's own chat template and special tokens through llama.cpp's chat
completion: the same prompt length, the same reply tokens."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch

from pintsize.model.checkpoint import save_model
from pintsize.model.config import ModelConfig
from pintsize.model.gguf import export_gguf
from pintsize.model.llama import Llama
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams
from pintsize.tokenizer import TokenizerInfo, build_pints_tokenizer, load_tokenizer

xllamacpp = pytest.importorskip("xllamacpp")
pytest.importorskip("gguf")

NEAR_TIE = 0.05
LOGPROB_TOL = 1e-2  # llama.cpp's default settings (F16 attention)
EXACT_TOL = 1e-3  # an F32 file, F32 KV cache, flash attention off
NEW_TOKENS = 24


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TRAINING_TEXT = (
    "The json module can encode Python objects as JSON text and decode JSON text into Python objects. "
    "The csv module reads and writes tabular data. The os module talks to the operating system. "
)


REPLY = "The json module encodes and decodes JSON."


def train_tiny_model(root: Path, reply_end: str = "<|im_end|>", steps: int = 30) -> Path:
    """A 2-layer model trained for a few seconds on a paragraph and one chat, so that its greedy
    choices are a trained model's, not noise (a random model is near-uniform: every step a near-tie).
    The chat's reply ends with `reply_end`."""
    tok_dir = build_pints_tokenizer(root / "tok")
    tok = load_tokenizer(tok_dir)
    chat = tok.apply_chat_template([{"role": "user", "content": "What does json do?"},
                                    {"role": "assistant", "content": REPLY}],
                                   tokenize=False).replace(REPLY + "<|im_end|>", REPLY + reply_end)
    ids = torch.tensor(tok.encode((chat + TRAINING_TEXT) * 8, add_special_tokens=False))
    cfg = ModelConfig(name="llama-cpp-test", vocab_size=TokenizerInfo.read(tok_dir).vocab_size, n_layer=2,
                      d_model=64, n_head=4, n_kv_head=2, d_ff=160, block_size=256, rope_base=5000.0)
    torch.manual_seed(0)
    model = Llama(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    windows = ids[: len(ids) // 65 * 65].view(-1, 65)
    for _ in range(steps):
        batch = windows[torch.randint(len(windows), (4,))]
        logits = model(batch[:, :-1])[..., : cfg.vocab_size].float()
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return save_model(model, cfg, root / "model", tokenizer_dir=tok_dir)


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    return train_tiny_model(tmp_path_factory.mktemp("llama-cpp"))


def llama_cpp_server(gguf_file: Path, n_ctx: int = 512, exact: bool = False):
    """llama.cpp at its defaults, or (`exact`) computing attention in F32 too: F32 keys and values, no flash attention."""
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf_file)
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = 1  # these machines are shared: one thread, as the project's CI runs
    params.cpuparams_batch.n_threads = 1
    params.warmup = False
    if exact:
        params.cache_type_k = params.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_F32
        params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    return xllamacpp.Server(params)


def llama_cpp_end_tokens(gguf_file: Path) -> set[int]:
    """The tokens llama.cpp ends a generation at, as it lists them when it loads the file."""
    # The child leaves by os._exit once the log is flushed: about 1 in 9 interpreter exits with a live
    # xllamacpp.Server hung (measured: 9 of 80 runs, all in finalization; 0 of 80 this way).
    code = ("import ctypes, os, sys, xllamacpp; p = xllamacpp.CommonParams(); p.model.path = sys.argv[1]; p.n_ctx = 64; "
            "p.cpuparams.n_threads = 1; p.warmup = False; p.verbosity = 4; server = xllamacpp.Server(p); "
            "sys.stdout.flush(); sys.stderr.flush(); ctypes.CDLL(None).fflush(None); os._exit(0)")
    run = subprocess.run([sys.executable, "-c", code, str(gguf_file)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return {int(i) for i in re.findall(r"EOG token\s+= (\d+) ", run.stdout + run.stderr)}


def their_tokens(content: list[dict]) -> tuple[list[int], list[float]]:
    return [c["id"] for c in content], [c["logprob"] for c in content]


@torch.no_grad()
def check_agreement(gen: Generator, prompt: list[int], theirs: list[int], their_logprobs: list[float],
                    tol: float = LOGPROB_TOL) -> int:
    """Applies the module's rule; returns how many tokens were compared (those before the first near-tie)."""
    ours = gen.complete(prompt, SamplingParams(max_new_tokens=len(theirs))).token_ids
    logits = gen.model(torch.tensor([prompt + theirs]))[0, len(prompt) - 1 : -1, : gen.vocab_size].float()
    logprobs = logits.log_softmax(-1)
    compared = 0
    for i, tok in enumerate(theirs):
        top2 = logits[i].topk(2).values
        if i == len(ours):  # pintsize stopped at the end-of-turn token: llama.cpp reports it as a token
            assert tok in gen.stop_token_ids
            return compared + 1
        if tok != ours[i] or tok != int(logits[i].argmax()):
            # only a near-tie may be decided differently (rounding); the continuations part here
            assert float(top2[0] - top2[1]) <= NEAR_TIE, f"token {i}: llama.cpp {tok}, ours {ours[i]}, gap {top2[0] - top2[1]:.3f}"
            break
        assert abs(their_logprobs[i] - float(logprobs[i, tok])) < tol, f"token {i} logprob"
        compared += 1
    return compared


def check_completion(model_dir: Path, tmp_path: Path, dtype: str, prompt_text: str, min_compared: int,
                     exact: bool = False):
    assert dtype == "float32" or not exact
    gguf_file = export_gguf(model_dir, tmp_path / f"m-{dtype}.gguf", dtype=dtype)
    gen = Generator.load(model_dir, device="cpu")
    server = llama_cpp_server(gguf_file, exact=exact)
    prompt = gen.encode(prompt_text)
    done = server.handle_completions({"prompt": prompt, "n_predict": NEW_TOKENS, "temperature": 0, "n_probs": 1,
                                      "cache_prompt": False})
    theirs, lps = their_tokens(done["choices"][0]["logprobs"]["content"])
    assert done["usage"]["prompt_tokens"] == len(prompt) and 0 < len(theirs) <= NEW_TOKENS
    assert check_agreement(gen, prompt, theirs, lps, EXACT_TOL if exact else LOGPROB_TOL) >= min_compared
    return gen, server


def check_chat(gen: Generator, server, messages: list[dict], min_compared: int) -> str:
    """llama.cpp renders the GGUF's chat template itself and tokenizes it (BOS and <|im_start|> as
    special tokens): the same prompt, so the same reply tokens and logprobs."""
    chat = server.handle_chat_completions({"messages": messages, "max_tokens": 12, "temperature": 0,
                                           "logprobs": True, "top_logprobs": 1})
    ours_prompt = gen.chat_prompt(messages)
    assert chat["usage"]["prompt_tokens"] == len(ours_prompt)
    theirs, lps = their_tokens(chat["choices"][0]["logprobs"]["content"])
    assert check_agreement(gen, ours_prompt, theirs, lps) >= min(min_compared, len(theirs))
    return chat["choices"][0]["message"]["content"]


@pytest.mark.parametrize(("dtype", "exact"), [("float32", True), ("float32", False), ("float16", False)])
def test_trained_model_through_llama_cpp(trained_model, tmp_path, dtype, exact):
    check_completion(trained_model, tmp_path, dtype, "The json module can encode", min_compared=8, exact=exact)


def test_trained_model_chat_through_llama_cpp(trained_model, tmp_path):
    gen, server = check_completion(trained_model, tmp_path, "float32", "The json module can encode", min_compared=8)
    check_chat(gen, server, [{"role": "user", "content": "What does json do?"}], min_compared=4)


def llama_cpp_tokenize(server, text: str) -> list[int]:
    """llama.cpp's own tokenizer, through the server's /tokenize (special tokens parsed, no BOS added)."""
    body = json.dumps({"content": text, "add_special": False, "parse_special": True}).encode()
    req = urllib.request.Request(server.listening_address + "/tokenize", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["tokens"]


def test_pints_tokenizer_through_llama_cpp(trained_model, tmp_path):
    """ChatML text tokenizes to our ids token by token. The Pints tokenizer prefixes '▁' only at the
    start of the input (transformers' "first"); llama.cpp can only prefix every text fragment after a
    special token (`add_space_prefix`), which turned `user` into `▁user`, so the export writes False.
    The known cost, pinned here: a raw prompt starting with a word loses its '▁' unless given a space."""
    server = llama_cpp_server(export_gguf(trained_model, tmp_path / "m.gguf", dtype="float32"), n_ctx=128)
    tok = load_tokenizer(trained_model / "tokenizer")
    chat = tok.apply_chat_template([{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello."},
                                    {"role": "user", "content": "What does json do?"}], tokenize=False,
                                   add_generation_prompt=True)
    assert llama_cpp_tokenize(server, chat) == tok.encode(chat, add_special_tokens=False)
    assert llama_cpp_tokenize(server, "<s><|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n") == [
        1, 32002, 1838, 13, 23809, 736, 2, 13, 32002, 489, 11143, 13]  # DESIGN.md's ids
    ours = tok.encode("The json module", add_special_tokens=False)
    assert llama_cpp_tokenize(server, " The json module") == ours
    raw = llama_cpp_tokenize(server, "The json module")
    assert tok.convert_ids_to_tokens(raw[:1]) == ["The"] and raw[1:] == ours[1:]


@pytest.fixture(scope="module")
def eot_model(tmp_path_factory) -> Path:
    """Its chat reply ends with Llama 3's end of turn `<|eot_id|>`, which the Pints tokenizer carries beside its EOS."""
    return train_tiny_model(tmp_path_factory.mktemp("llama-cpp-eot"), reply_end="<|eot_id|>", steps=60)


def test_every_runtime_stops_at_the_end_of_turn_token(eot_model, tmp_path):
    """pintsize, llama.cpp (which knows `<|eot_id|>` by its text) and transformers on the HF export
    (vLLM reads the same generation_config.json) end the greedy reply at `<|eot_id|>`, after the
    same tokens; and llama.cpp's end tokens are pintsize's."""
    from transformers import AutoModelForCausalLM

    from pintsize.model.hf import export_hf

    gen = Generator.load(eot_model, device="cpu")
    eot = 32014  # DESIGN.md: <|im_end|> 2 is the EOS; </s> 32003 and <|eot_id|> 32014 end a turn too
    assert gen.tokenizer.convert_ids_to_tokens(eot) == "<|eot_id|>" and gen.stop_token_ids == {2, 32003, eot}
    prompt = gen.chat_prompt([{"role": "user", "content": "What does json do?"}])
    ours = gen.complete(prompt, SamplingParams(max_new_tokens=NEW_TOKENS))
    with torch.no_grad():
        following = int(gen.model(torch.tensor([prompt + ours.token_ids]))[0, -1, : gen.vocab_size].argmax())
    assert ours.finish_reason == "stop" and following == eot and len(ours.token_ids) >= 4  # the greedy path ends there

    gguf_file = export_gguf(eot_model, tmp_path / "m.gguf", dtype="float32")
    assert llama_cpp_end_tokens(gguf_file) == gen.stop_token_ids
    server = llama_cpp_server(gguf_file)
    done = server.handle_completions({"prompt": prompt, "n_predict": NEW_TOKENS, "temperature": 0, "n_probs": 1,
                                      "cache_prompt": False})
    assert their_tokens(done["choices"][0]["logprobs"]["content"])[0] == ours.token_ids + [eot]

    hf_dir = export_hf(eot_model, tmp_path / "hf")
    assert json.loads((hf_dir / "generation_config.json").read_text())["eos_token_id"] == [2, 32003, eot]
    hf = AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS, do_sample=False)
    assert out[0, len(prompt):].tolist() == ours.token_ids + [eot]


@pytest.mark.parametrize("dtype", ["float16"])
def test_smollm2_through_llama_cpp(smollm2_model, tmp_path, dtype):
    gen, server = check_completion(smollm2_model, tmp_path, dtype, "The three primary colors are", min_compared=8)
    assert llama_cpp_end_tokens(tmp_path / f"m-{dtype}.gguf") == gen.stop_token_ids  # <|im_end|>, <|endoftext|>, <reponame>
    reply = check_chat(gen, server, [{"role": "user", "content": "What is the capital of France?"}], min_compared=8)
    assert "Paris" in reply


# n_head x head_dim against d_model: fewer (2 x 16 = 32 < 48) or more (4 x 16 = 64 > 48, as SmolLM2 pruned to
# 67M: 9 x 64 = 576 > 360); every projection of attention is then not square
@pytest.mark.parametrize("target", ["d_model=48,n_head=2,n_kv_head=1", "d_model=48"])
def test_pruned_model_through_llama_cpp(trained_model, tmp_path, target):
    """A pruned model's head_dim (16) is no longer d_model / n_head: the GGUF's attention.key_length and
    value_length carry it, and llama.cpp computing in F32 gives our logprobs within EXACT_TOL."""
    from pintsize.model.prune import prune_artifact

    calib = tmp_path / "calib.jsonl"
    calib.write_text(json.dumps({"text": TRAINING_TEXT * 8}) + "\n")
    _, pruned = prune_artifact(trained_model, tmp_path / "pruned", target, calib, seq_len=64)
    c = pruned.config
    assert (c.d_model, c.head_dim) == (48, 16) and c.n_head * c.head_dim != c.d_model
    check_completion(tmp_path / "pruned", tmp_path, "float32", "The json module can encode", min_compared=4, exact=True)


def test_layer_adaptive_model_through_llama_cpp(trained_model, tmp_path):
    """Layers of different widths (Adapt-Pruner): the GGUF carries per-layer head counts and MLP
    widths, as llama.cpp's "deci" architecture reads them (its "llama" architecture sizes every
    layer's tensors from layer 0's values), and llama.cpp decodes what we decode."""
    import numpy as np

    from pintsize.model.checkpoint import load_model
    from pintsize.model.prune_adaptive import adaptive_prune
    from pintsize.tokenizer import load_tokenizer

    tok = load_tokenizer(trained_model / "tokenizer")
    calib = np.array(tok.encode(TRAINING_TEXT * 8, add_special_tokens=False))
    model = load_model(trained_model)
    blocks = sum(p.numel() for p in model.blocks.parameters())
    pruned = adaptive_prune(model, model.num_params() - blocks // 5, calib, 64, 4, amplitude=0.2).model  # blocks -20%
    layers = pruned.config.layers
    assert layers is not None and layers[0] != layers[1]
    save_model(pruned, pruned.config, tmp_path / "adaptive", tokenizer_dir=trained_model / "tokenizer")
    check_completion(tmp_path / "adaptive", tmp_path, "float32", "The json module can encode", min_compared=4, exact=True)
