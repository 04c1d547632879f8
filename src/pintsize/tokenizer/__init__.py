"""Tokenizers: the exact 1.5-Pints tokenizer, BPEs trained on a corpus, and comparing them.

Light to import: the heavy libraries are imported by the functions that need them.
"""

from pintsize.tokenizer.build import build_tokenizer
from pintsize.tokenizer.load import TokenizerInfo, load_tokenizer, tokenizer_dir
from pintsize.tokenizer.pints import build_pints_tokenizer

__all__ = ["TokenizerInfo", "build_pints_tokenizer", "build_tokenizer", "load_tokenizer", "tokenizer_dir"]
