"""Packing already-tokenized documents with loss masks (the SFT path): the masks reach the loader,
which stops the loss wherever the target token is masked or starts another document."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np
import pytest

from pintsize.data.config import PackConfig
from pintsize.data.loader import TokenLoader
from pintsize.data.pack import TokenDocument, pack_token_documents
from pintsize.data.shards import INDEX, ShardSplit
from pintsize.errors import DataError


@pytest.fixture(scope="module")
def chats(docs, bpe):
    """Question/answer documents from real text: the loss is on the answer only."""
    from pintsize.tokenizer import load_tokenizer

    tok = load_tokenizer(bpe)
    out = []
    for i, d in enumerate(docs[:40]):
        first_line, _, rest = d["text"].strip().partition("\n")
        question = tok(f"<|im_start|>user\nExplain {first_line}<|im_end|>\n<|im_start|>assistant\n").input_ids
        answer = tok(rest[:600] + "<|im_end|>", add_special_tokens=False).input_ids
        mask = [0] * len(question) + [1] * len(answer)
        out.append(TokenDocument(question + answer, source="qa" if i % 2 else "howto", loss_mask=mask))
    return out


def test_masks_roundtrip_and_become_ignored_targets(tmp_path, chats, bpe):
    from pintsize.tokenizer.load import TokenizerInfo

    info = TokenizerInfo.read(bpe)
    meta = pack_token_documents(
        chats, tmp_path, vocab_size=info.vocab_size, bos_id=info.bos_id, eos_id=info.eos_id, pad_id=info.pad_id,
        config=PackConfig(val_fraction=0.1, shard_tokens=3000),
    )
    assert meta["has_loss_mask"] and meta["splits"]["val"]["documents"] == 4
    got = []
    for split in ("train", "val"):
        s = ShardSplit.open(tmp_path, split)
        got += [(tuple(s.document(i).tolist()), tuple(s.document_mask(i).tolist())) for i in range(s.num_documents)]
    assert Counter(got) == Counter((tuple(c.tokens), tuple(c.loss_mask)) for c in chats)

    # Expected targets from the files alone: next token, unless it is masked or starts a document.
    train = ShardSplit.open(tmp_path, "train")
    files = sorted((tmp_path / "train").glob("tokens-*.bin"))
    tokens = np.concatenate([np.fromfile(f, dtype=np.uint16) for f in files]).astype(np.int64)
    mask = np.concatenate([np.fromfile(str(f).replace("tokens-", "mask-"), dtype=np.uint8) for f in files])
    starts = np.zeros(len(tokens), dtype=bool)
    starts[np.cumsum(np.load(tmp_path / "train" / INDEX)[:, 2])[:-1]] = True
    starts[0] = True
    T, B = 50, 2
    for i, batch in enumerate(islice(TokenLoader(tmp_path, seq_len=T, batch_size=B), len(tokens) // (T * B))):
        for b in range(B):
            s = (i * B + b) * T
            expected = np.where(starts[s + 1 : s + T + 1] | (mask[s + 1 : s + T + 1] == 0), -100, tokens[s + 1 : s + T + 1])
            assert batch["targets"][b].tolist() == expected.tolist()
    assert train.num_documents == 36


def test_bad_documents_are_rejected(tmp_path):
    common = dict(vocab_size=100, bos_id=1, eos_id=2, pad_id=0, config=PackConfig())
    with pytest.raises(DataError, match="document 1 has 2 tokens but a loss mask of 3"):
        pack_token_documents([TokenDocument([1, 5, 2]), TokenDocument([1, 2], loss_mask=[1, 1, 1])], tmp_path, **common)
    with pytest.raises(DataError, match="outside"):
        pack_token_documents([TokenDocument([1, 500, 2])], tmp_path, **common)


def test_without_validation_the_val_split_is_empty_but_readable(tmp_path, chats):
    from pintsize.data.loader import eval_batches
    from pintsize.errors import PintsizeError

    meta = pack_token_documents(chats[:5], tmp_path, vocab_size=1024, bos_id=1, eos_id=2, pad_id=None, config=PackConfig(val_fraction=0.0))
    assert meta["splits"]["val"] == {"documents": 0, "tokens": 0, "sources": {}, "shards": []}
    assert list(eval_batches(tmp_path, "val", 16, 2)) == []
    with pytest.raises(PintsizeError, match="split 'val' has no documents"):
        TokenLoader(tmp_path, split="val")
    assert sum(b["input_ids"].numel() for b in islice(TokenLoader(tmp_path, seq_len=16, batch_size=2), 3)) == 96
