"""The exact 1.5-Pints tokenizer, built from the Mistral v0.1 SentencePiece model that ships in
the `mistral-common` wheel (no download).

Mistral's 32,000 pieces are converted to a byte-fallback BPE by transformers' own SentencePiece
extractor; id 2 (`</s>`) is renamed `<|im_end|>` and is the EOS; the 64 chat tokens of
`specials.CHAT_TOKENS` take ids 32000-32063; BOS is added; ChatML is the chat template.

Pre-tokenization is transformers' non-legacy Llama/Mistral one (Metaspace, prepend "first"),
which is what makes the ChatML example encode to the ids in DESIGN.md (`user` after
`<|im_start|>` without a leading "▁"). It differs from the `sentencepiece` library in two known
cases, both about whitespace: text that starts with whitespace (sentencepiece adds its dummy
prefix "▁" in front of it, we do not) and runs of two or more spaces before a word
(sentencepiece splits the run off as its own piece; BPE merges "▁▁" first). The decoded text
is the same in the second case. tests/tokenizer/test_pints.py measures both on real text.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from pintsize.artifacts import ArtifactWriter
from pintsize.errors import PintsizeError
from pintsize.tokenizer.specials import BASE_SPECIALS, BOS, CHAT_TOKENS, EOS, PAD

PINTS_VOCAB_SIZE = 32064
_MISTRAL_EOS = "</s>"


def mistral_v1_model() -> Path:
    """Path of `mistral_common/data/tokenizer.model.v1` inside the installed package."""
    try:
        path = Path(str(importlib.resources.files("mistral_common") / "data" / "tokenizer.model.v1"))
    except ModuleNotFoundError:
        raise PintsizeError("the Pints tokenizer needs the `mistral-common` package: pip install mistral-common") from None
    if not path.is_file():
        raise PintsizeError(f"{path}: the Mistral v0.1 SentencePiece model is missing from mistral-common")
    return path


def pints_backend(sp_model: Path | None = None):
    """The Pints tokenizer as a `tokenizers.Tokenizer` (32,064 tokens)."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    extracted = SentencePieceExtractor(str(sp_model or mistral_v1_model())).extract(BPE)
    vocab = dict(extracted["vocab"])
    vocab[EOS] = vocab.pop(_MISTRAL_EOS)
    tok = Tokenizer(BPE(vocab=vocab, merges=extracted["merges"], unk_token=BASE_SPECIALS[0], fuse_unk=True, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (*BASE_SPECIALS, *CHAT_TOKENS)])
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    if tok.get_vocab_size() != PINTS_VOCAB_SIZE or tok.token_to_id(EOS) != 2:
        raise PintsizeError(f"the Pints tokenizer came out with {tok.get_vocab_size()} tokens, expected {PINTS_VOCAB_SIZE}")
    return tok


def build_pints_tokenizer(out: str | Path) -> Path:
    """Write the Pints tokenizer as a tokenizer artifact at `out` (HF files + manifest)."""
    from pintsize.tokenizer.hf_files import save_hf_tokenizer

    out = Path(out)
    sp_model = mistral_v1_model()
    with ArtifactWriter(out, "tokenizer", {"kind": "pints"}, inputs={"sentencepiece": sp_model}) as art:
        backend = pints_backend(sp_model)
        save_hf_tokenizer(backend, art.dir)
        art.stats.update(vocab_size=backend.get_vocab_size(), bos_id=1, eos_id=2, pad_id=backend.token_to_id(PAD))
    return out
