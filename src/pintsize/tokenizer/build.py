"""The tokenizer stage: build the tokenizer artifact a recipe's [tokenizer] section asks for."""

from __future__ import annotations

import shutil
from pathlib import Path

from pintsize.artifacts import ArtifactWriter
from pintsize.errors import PintsizeError
from pintsize.tokenizer.config import TokenizerConfig
from pintsize.tokenizer.load import tokenizer_dir


def build_tokenizer(config: TokenizerConfig, corpus: Path | None, out: Path) -> Path:
    """kind=pints: the 1.5-Pints tokenizer; kind=train: a BPE trained on `corpus`;
    kind=path: an existing Hugging Face tokenizer directory, checked and copied."""
    if config.kind == "pints":
        from pintsize.tokenizer.pints import build_pints_tokenizer

        return build_pints_tokenizer(out)
    if config.kind == "train":
        from pintsize.tokenizer.train import train_tokenizer

        if corpus is None:
            raise PintsizeError("[tokenizer] kind = 'train' needs a corpus to train on")
        return train_tokenizer(corpus, out, config.vocab_size)
    if config.path is None:
        raise PintsizeError("[tokenizer] kind = 'path' needs path = '<a tokenizer directory>'")
    return _copy_tokenizer(Path(config.path), Path(out), config)


def _copy_tokenizer(src: Path, out: Path, config: TokenizerConfig) -> Path:
    from pintsize.tokenizer.load import TokenizerInfo, load_tokenizer

    root = tokenizer_dir(src)
    info = TokenizerInfo.read(root)  # fails clearly without BOS/EOS
    load_tokenizer(root)  # and transformers must load it
    with ArtifactWriter(out, "tokenizer", config, inputs={"tokenizer": root}) as art:
        for f in sorted(root.iterdir()):
            if f.is_file() and f.name != "manifest.json":
                shutil.copy2(f, art.dir / f.name)
        art.stats.update(vocab_size=info.vocab_size, bos_id=info.bos_id, eos_id=info.eos_id, pad_id=info.pad_id)
    return out
