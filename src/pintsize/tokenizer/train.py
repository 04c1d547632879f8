"""Training a byte-level BPE on a corpus with the `tokenizers` library.

The result has the same special and chat tokens as the Pints tokenizer: `<unk>`, `<s>` (BOS)
and `<|im_end|>` (EOS) at ids 0-2, the 64 chat tokens after the learned merges, then more
`<|reserved_N|>` tokens until the vocabulary is a multiple of 64 (a small corpus can stop the
trainer short of the size asked for). Digits are split one by one, as in Mistral's tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from pintsize.artifacts import ArtifactWriter
from pintsize.errors import PintsizeError
from pintsize.tokenizer.specials import BASE_SPECIALS, BOS, CHAT_TOKENS, N_RESERVED, PAD, reserved

MULTIPLE = 64
MIN_VOCAB = 384  # 256 bytes + 3 specials + the 64 chat tokens, rounded up to a multiple of 64


def padded_vocab_size(vocab_size: int) -> int:
    return -(-vocab_size // MULTIPLE) * MULTIPLE


def train_bpe_backend(texts: Iterable[str], vocab_size: int):
    """A `tokenizers.Tokenizer`: byte-level BPE of at most `vocab_size` (rounded up to 64) tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE

    if vocab_size < MIN_VOCAB:
        raise PintsizeError(f"vocab_size {vocab_size} is too small for a byte-level BPE (at least {MIN_VOCAB})")
    target = padded_vocab_size(vocab_size)
    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=target - len(CHAT_TOKENS),
        min_frequency=2,
        special_tokens=list(BASE_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_batches(texts), trainer=trainer)

    learned = tok.get_vocab_size()
    extra = (-(learned + len(CHAT_TOKENS))) % MULTIPLE
    added = [*CHAT_TOKENS, *(reserved(N_RESERVED + i) for i in range(extra))]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def _batches(texts: Iterable[str], size: int = 256) -> Iterator[list[str]]:
    batch: list[str] = []
    for t in texts:
        batch.append(t)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_tokenizer(corpus: str | Path, out: str | Path, vocab_size: int, max_docs_per_source: int | None = None) -> Path:
    """Train a BPE on the corpus at `corpus` and write it as a tokenizer artifact at `out`."""
    from pintsize.data.records import iter_texts
    from pintsize.tokenizer.hf_files import save_hf_tokenizer

    out = Path(out)
    config = {"kind": "train", "vocab_size": vocab_size, "max_docs_per_source": max_docs_per_source}
    with ArtifactWriter(out, "tokenizer", config, inputs={"corpus": corpus}) as art:
        backend = train_bpe_backend((text for text, _ in iter_texts(corpus, max_docs_per_source)), vocab_size)
        save_hf_tokenizer(backend, art.dir)
        art.stats.update(
            vocab_size=backend.get_vocab_size(),
            bos_id=backend.token_to_id(BOS),
            eos_id=backend.token_to_id(BASE_SPECIALS[2]),
            pad_id=backend.token_to_id(PAD),
        )
    return out
