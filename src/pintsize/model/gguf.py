"""GGUF export: one file that llama.cpp (and Ollama, LM Studio, ...) loads, tokenizer and chat template included.

Written with the `gguf` package. The weights are first mapped to Hugging Face's names
(`pintsize.model.hf`), then to GGUF's with gguf's own name map, the way llama.cpp's
`convert_hf_to_gguf.py` does it; q and k are permuted from the "rotate half" RoPE layout
that HF and pintsize use to the interleaved layout llama.cpp computes with.

A model whose layers differ in width (`ModelConfig.layers`, after Adapt-Pruner) is written as
GGUF architecture "deci" (llama.cpp's arch for NVIDIA's per-layer NAS Llamas: the same tensors
and RoPE as "llama", with per-layer `head_count`, `head_count_kv` and `feed_forward_length`
arrays). llama.cpp's "llama" arch reads such arrays but sizes every layer's tensors from layer 0's
values, and refuses the file (checked with xllamacpp 2026.10.11549).

Two tokenizer kinds are written: SentencePiece-style BPE with byte fallback (the Pints/Mistral
tokenizer; GGUF model "llama") and byte-level BPE (GGUF model "gpt2"; pre-tokenizer "gpt-2", or
"starcoder" when digits are split one by one first, as pintsize's trained BPEs do).
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from pintsize.errors import CheckpointError
from pintsize.model.checkpoint import load_config, load_model, resolve_model_dir, tokenizer_path
from pintsize.model.config import ModelConfig
from pintsize.model.hf import to_hf_state_dict
from pintsize.model.stop_tokens import END_OF_MESSAGE, END_OF_TURN

DTYPES = ("float32", "float16", "bfloat16")


def permute_for_gguf(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Rotate-half q/k rows (pairs i, i + hd/2) -> interleaved rows (pairs 2i, 2i + 1), per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_gguf(model_dir: str | Path, out_file: str | Path, dtype: str = "float16") -> Path:
    """Write `out_file` (atomically: a temporary name, then a rename)."""
    import gguf

    if dtype not in DTYPES:
        raise CheckpointError(f"GGUF dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
    model_dir, out_file = resolve_model_dir(model_dir), Path(out_file)
    config = load_config(model_dir)
    tok_dir = tokenizer_path(model_dir)
    if tok_dir is None:
        raise CheckpointError(f"{model_dir}: no tokenizer/ directory; a GGUF file must carry its tokenizer")
    state = to_hf_state_dict(load_model(model_dir).state_dict(), config)

    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.name}.tmp-{os.getpid()}")
    arch = gguf.MODEL_ARCH.DECI if config.layers is not None else gguf.MODEL_ARCH.LLAMA
    writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[arch])
    try:
        _write_hparams(writer, config, dtype)
        _write_vocab(writer, tok_dir, config.padded_vocab_size)
        _write_tensors(writer, state, config, dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_file)
    finally:
        tmp.unlink(missing_ok=True)
    return out_file


def _write_hparams(writer, config: ModelConfig, dtype: str) -> None:
    import gguf

    writer.add_name(config.name)
    writer.add_context_length(config.block_size)
    writer.add_embedding_length(config.d_model)
    writer.add_block_count(config.n_layer)
    if config.layers is None:
        writer.add_feed_forward_length(config.d_ff)
        writer.add_head_count(config.n_head)
        writer.add_head_count_kv(config.n_kv_head)
    else:  # per-layer arrays, as llama.cpp reads them (get_key_or_arr)
        writer.add_feed_forward_length([s.d_ff for s in config.layers])
        writer.add_head_count([s.n_head for s in config.layers])
        writer.add_head_count_kv([s.n_kv_head for s in config.layers])
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(float(config.rope_base))
    writer.add_layer_norm_rms_eps(config.norm_eps)
    writer.add_vocab_size(config.padded_vocab_size)
    if config.rope_scaling is not None and config.rope_scaling.factor != 1.0:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(config.rope_scaling.factor)
    file_type = {"float32": gguf.LlamaFileType.ALL_F32, "float16": gguf.LlamaFileType.MOSTLY_F16, "bfloat16": gguf.LlamaFileType.MOSTLY_BF16}
    writer.add_file_type(file_type[dtype])


def _write_tensors(writer, state: dict[str, torch.Tensor], config: ModelConfig, dtype: str) -> None:
    import gguf

    arch = gguf.MODEL_ARCH.DECI if config.layers is not None else gguf.MODEL_ARCH.LLAMA
    names = gguf.get_tensor_name_map(arch, config.n_layer)
    for hf_name, w in state.items():
        name = names.get_name(hf_name, try_suffixes=(".weight",))
        if name is None:
            raise CheckpointError(f"no GGUF name for tensor {hf_name}")
        w = w.float()
        if hf_name.endswith(("q_proj.weight", "k_proj.weight")):
            w = permute_for_gguf(w, w.shape[0] // config.head_dim)  # this layer's q or KV heads
        data = w.numpy()
        if data.ndim == 1 or dtype == "float32":  # llama.cpp keeps norms in fp32
            writer.add_tensor(name, data.astype(np.float32))
        elif dtype == "float16":
            writer.add_tensor(name, data.astype(np.float16))
        else:
            q = gguf.GGMLQuantizationType.BF16
            writer.add_tensor(name, gguf.quants.quantize(data, q), raw_dtype=q)  # shape read from the byte layout


def _write_vocab(writer, tok_dir: Path, n_vocab: int) -> None:
    """Token list, scores, types, merges (byte-level BPE), special ids (end of turn included) and the chat template."""
    import gguf
    from transformers import AutoTokenizer

    tj_path = tok_dir / "tokenizer.json"
    if not tj_path.is_file():
        raise CheckpointError(f"{tok_dir}: no tokenizer.json (GGUF export reads the fast tokenizer's file)")
    tj = json.loads(tj_path.read_text(encoding="utf-8"))
    model = tj.get("model", {})
    if model.get("type") != "BPE":
        raise CheckpointError(f"{tj_path}: a {model.get('type')} tokenizer; GGUF export supports BPE tokenizers")
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    by_id = {i: t for t, i in tok.get_vocab().items()}
    if len(by_id) > n_vocab:
        raise CheckpointError(f"{tok_dir}: {len(by_id)} tokens, more than the model's {n_vocab} embedding rows")
    special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
    added = set(tok.added_tokens_decoder)

    byte_level = (tj.get("decoder") or {}).get("type") == "ByteLevel"
    if model.get("byte_fallback"):
        kind = "llama"  # SentencePiece-style: llama.cpp merges by score; ids follow merge order
    elif byte_level:
        kind = "gpt2"
        pre = _gpt2_pretokenizer(tj, tj_path)
    else:
        raise CheckpointError(f"{tj_path}: neither byte-fallback BPE nor byte-level BPE; no GGUF tokenizer model fits")

    tokens, scores, types = [], [], []
    for i in range(n_vocab):
        text = by_id.get(i)
        if text is None:  # embedding rows past the tokenizer: padding
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(text)
            if i == tok.unk_token_id:
                types.append(gguf.TokenType.UNKNOWN)
            elif i in special:
                types.append(gguf.TokenType.CONTROL)
            elif i in added:
                types.append(gguf.TokenType.USER_DEFINED)
            elif kind == "llama" and re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", text):
                types.append(gguf.TokenType.BYTE)
            else:
                types.append(gguf.TokenType.NORMAL)
        scores.append(-float(i))
    writer.add_tokenizer_model(kind)
    if kind == "gpt2":
        writer.add_tokenizer_pre(pre)
    else:
        writer.add_add_space_prefix(_space_prefix_scheme(tj) == "always")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    with _without_bos_separator_warning(tok.bos_token):
        specials = gguf.SpecialVocab(tok_dir, load_merges=kind == "gpt2", n_vocab=n_vocab)
    # llama.cpp would guess the end-of-turn token by its text; name it (see stop_tokens.py)
    vocab = tok.get_vocab()
    for role, text in (("eot", END_OF_TURN), ("eom", END_OF_MESSAGE)):
        if text in vocab:
            specials.special_token_ids.setdefault(role, vocab[text])
    specials.add_to_gguf(writer, quiet=True)


@contextmanager
def _without_bos_separator_warning(bos: str | None):
    """gguf's reader of post-processors warns about the pair template `<s> $A <s> $B` (Llama's and
    the Pints tokenizer's: BOS before each sequence), which it does not know; the warning is
    harmless, as llama.cpp never encodes pairs. Every other warning still shows."""
    import logging

    def keep(record: logging.LogRecord) -> bool:
        return not (bos and record.getMessage() == f"Unknown separator token {bos!r} in TemplateProcessing<pair>")

    log = logging.getLogger("gguf.vocab")
    log.addFilter(keep)
    try:
        yield
    finally:
        log.removeFilter(keep)


def _gpt2_pretokenizer(tj: dict, source: Path) -> str:
    """llama.cpp splits byte-level BPE input with regexes chosen by name: the name whose regexes
    match the tokenizer's pre-tokenizer (GPT-2's regex, alone or after splitting single digits)."""
    pre = tj.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    byte_level = steps[-1] if kinds and kinds[-1] == "ByteLevel" else None
    if byte_level is not None and byte_level.get("use_regex", True) and not byte_level.get("add_prefix_space", False):
        if kinds == ["ByteLevel"]:
            return "gpt-2"
        if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
            return "starcoder"  # \p{N} first, then GPT-2's regex
    raise CheckpointError(
        f"{source}: byte-level BPE with pre-tokenizer {kinds}; GGUF export supports GPT-2's regex, "
        "alone or after single-digit splitting, which llama.cpp reproduces"
    )


def _space_prefix_scheme(tj: dict) -> str:
    """Where the tokenizer puts '▁' before the text, as SentencePiece's dummy prefix does: "always"
    (before every piece of text between special tokens: legacy Llama/Mistral), "first" (only at the
    very start of the input: transformers' non-legacy scheme, the Pints tokenizer's) or "never".

    llama.cpp's `add_space_prefix` means "always": it prefixes every text fragment that follows a
    special token (or the start). It has no "first", so "first" is written as False: a ChatML prompt
    starts with `<|im_start|>`, so transformers never prefixes anything in it and llama.cpp's chat
    path then tokenizes it exactly as we do; True would turn `user` into `▁user` and the `\n`
    after `<|im_end|>` into `▁` `\n` in every turn. The price: a raw completion prompt that starts
    with a word loses its leading '▁' in llama.cpp ("The" not "▁The"), unless it starts with a space."""

    def steps(node: dict | None):
        if not node:
            return []
        if node.get("type") == "Sequence":
            return [s for child in node.get("normalizers", node.get("pretokenizers", [])) for s in steps(child)]
        return [node]

    for step in steps(tj.get("normalizer")) + steps(tj.get("pre_tokenizer")):
        if step.get("type") == "Prepend" and step.get("prepend") == "▁":
            return "always"  # a normalizer runs on each piece of text between added tokens
        if step.get("type") == "Metaspace":
            return step.get("prepend_scheme", "always" if step.get("add_prefix_space", True) else "never")
    return "never"
