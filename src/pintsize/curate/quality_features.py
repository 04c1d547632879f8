"""Features of a document's *style*, not its topic: what the quality model reads.

A word-n-gram classifier trained on seed documents learns their topic (python, module, class for;
debian, configuration, user against: issue 26). Here every content word is replaced by its shape
(capitalised, lower-case short/medium/long, all-caps, number, identifier) and a crude word class
from its ending (-ing, -ed, -ly, -tion, -s), while function words, a few words of explaining
("example", "note", "called", "defined") and punctuation are kept, and each line start becomes a
token (plain, indented, after a blank line). The n-grams are hashed with numpy (crc32 of each
token's shape, mixed per order), not sklearn's pure-Python n-gram loop: 5x faster. Hashed 1-3-grams of that stream
(sublinear tf, l2) carry how a text is written; `layout` adds a few dense statistics (sentence
length, lists, headings, code share, definitions, questions, pronouns).

Example: "The `fork()` call creates a new process.\n\n    pid = fork()" becomes
"<l> the ` ww ( ) ` ww w-s a w w-s . <p> <in> w = ww ( )", and "The baker kneads a loaf when its
dough rises." reads the same as "The kernel schedules a thread when its timer expires.".
"""

from __future__ import annotations

import functools
import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Closed-class English words, plus the words that mark explaining (not any topic).
FUNCTION_WORDS = frozenset(
    """a an the this that these those some any no every each all both either neither such what which whose who whom
    i me my mine we us our ours you your yours he him his she her hers it its they them their theirs one ones oneself
    myself yourself itself themselves ourselves himself herself
    is am are was were be been being have has had having do does did doing done will would shall should can could may
    might must ought need
    not nor and or but so yet if then else than because since although though while whereas unless until when whenever
    where wherever whether how why as
    of in on at by for with without within about above below under over into onto out up down off through throughout
    across along among around before after during between beyond against toward towards upon via per from to like
    near behind beside besides except inside outside past
    there here now also only just even still already again too very more most less least much many few several
    other another same own enough quite rather almost always never often sometimes usually generally thus hence
    therefore however instead otherwise moreover furthermore namely first second finally next last
    example examples instance note notes called means mean meaning defined define definition describes described
    see following follows shown shows explained explains consider suppose section chapter e.g i.e etc
    yes oh ah hey okay ok please thanks thank hello hi
    said says say told asked replied cried""".split()
)

# Each line start is one token: "<l>", "<in>" (indented 4+), "<p>" (after a blank line), "<pin>"
# (both). The text is prefixed with "\n" so that its first line starts like any other.
_TOKEN = re.compile(r"\n(?:[ \t]*\n)*(?: {4}|\t)?|[A-Za-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*|\S")
_PERSON = frozenset("i me my we us our you your".split())
_SENTENCE_END = frozenset(".!?")
_SYMBOL_CHARS = frozenset("{}[]()<>=;|\\/_*#@$%^&~`")
_DEFINITION_WORDS = frozenset("means refers refer defined called example instance namely".split())
SEEN_BUCKETS = 2**20  # word buckets of the degenerate-text gate (sparse enough that random letters miss)


def _shape(tok: str) -> str:
    """A surface token's shape: function words and punctuation stay, content words become their
    shape and a crude word class."""
    c = tok[0]
    if c.isdigit():
        return "0"
    if not c.isalpha():
        return tok  # punctuation stays itself
    low = tok.lower()
    if low in FUNCTION_WORDS:
        return low
    if tok.isupper():
        return "W" if len(tok) == 1 else "WW"
    if c.isupper():
        return "Ww" if tok[1:].islower() or len(tok) == 1 else "WwW"
    if not tok.islower():
        return "wW"  # camelCase
    for suffix, cls in (("ing", "w-ing"), ("ed", "w-ed"), ("ly", "w-ly"), ("tion", "w-tion"), ("sion", "w-tion"), ("s", "w-s")):
        if low.endswith(suffix) and len(low) > len(suffix) + 2:
            return cls
    return "w" if len(tok) <= 3 else ("ww" if len(tok) <= 7 else "www")


class _Vocab(dict):
    """Surface token -> row of per-token properties (filled on first sight: real text repeats its
    words, so most lookups are one dict hit)."""

    def __init__(self):
        super().__init__()
        self.shape_hash: list[int] = []
        self.props: list[tuple] = []
        self._arrays = None

    def __missing__(self, tok: str) -> int:
        if tok[0] == "\n":
            shape = ("<p" if tok.count("\n") > 1 else "<") + ("l>" if tok[-1] == "\n" else "in>")
            shape = {"<pl>": "<p>"}.get(shape, shape)
        else:
            shape = _shape(tok)
        is_word = tok[0].isalpha()
        low = tok.lower()
        self.shape_hash.append(zlib.crc32(shape.encode()))
        self.props.append((
            is_word,
            is_word and low in FUNCTION_WORDS,
            is_word and low in _PERSON,
            len(tok) if is_word else 0,
            tok in _SENTENCE_END,
            zlib.crc32(tok.encode()) % SEEN_BUCKETS if is_word else 0,  # case kept: random letters mix case
            sum(ch.isupper() for ch in tok),
            sum(ch.isdigit() for ch in tok),
            tok in _SYMBOL_CHARS,
            low in ("is", "are"),
            low in ("a", "an", "the", "used", "called"),
            low in _DEFINITION_WORDS,
            tok[0] == "\n",  # a line start
            shape in ("<in>", "<pin>"),
            shape in ("<p>", "<pin>"),
            tok in _BULLETS,
            tok[0].isdigit(),
            tok in (".", ")"),
            tok in ".!?:",
            tok in (";", "{", "}", ")"),
            is_word and tok[0].isupper(),
            shape,
        ))
        self._arrays = None
        index = len(self.props) - 1
        if len(self) < 500_000:  # a bounded cache; a later new token costs a recomputation
            self[tok] = index
        return index

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(shape hashes, a table of the numeric properties: one row per surface token)."""
        if self._arrays is None:
            self._arrays = np.array(self.shape_hash, dtype=np.uint64), np.array([p[:-1] for p in self.props], dtype=np.int64)
        return self._arrays


_VOCAB = _Vocab()
_K = np.uint64(0x9E3779B97F4A7C15)  # mixing constants of the n-gram hashes (64-bit, wrap-around)
_ORDER_SALT = (np.uint64(0), np.uint64(0x632BE59BD9B4E019), np.uint64(0x85EBCA77C2B2AE63))


class StyleTokenizer:
    """Text -> the delexicalised token stream, as a space-separated str (for reading and tests;
    `style_features` computes the same stream as hashes)."""

    def __init__(self, max_chars: int = 100_000):
        self.max_chars = max_chars

    def __call__(self, text: str) -> str:
        toks = _TOKEN.findall("\n" + text[: self.max_chars])
        return " ".join(_VOCAB.props[_VOCAB[t]][-1] for t in toks)


@dataclass
class StyleFeatures:
    counts: object  # csr: hashed 1-3-gram counts of the token stream
    layout: np.ndarray  # LAYOUT_NAMES columns
    word_buckets: list[np.ndarray]  # per document: the SEEN_BUCKETS bucket of each word of 2+ letters


_BULLETS = frozenset("- * + \u2022".split())

LAYOUT_NAMES = (
    "log_chars", "words_per_sentence", "sentence_length_sd", "lines_per_1k", "mean_line_chars", "short_line_share",
    "blank_line_share", "indented_share", "bullet_share", "heading_share", "code_line_share", "symbol_share",
    "digit_share", "upper_share", "function_word_share", "mean_word_chars", "type_token_ratio", "definitions_per_sentence",
    "question_share", "exclaim_share", "quote_share", "first_second_person_share", "colon_share", "paren_share",
    "line_end_punct_share", "speaker_change_rate", "statement_line_share",
)

# A labelled turn of dialogue: "User: How do I ...", "B: Restart your router and ..." (a speaker label,
# then five words or more). Field lines ("Function: integrate (expr, x)", "License: GPL-2+") are
# mostly shorter. What marks chat is the label *changing* from one labelled line to the next.
# Without it, chat with an assistant ranked like a manual held out (AUC 0.53); with it 0.69 (RESULTS).
_TURN = re.compile(r"(?m)^[ \t]*(?:#+ ?)?\**([A-Z][A-Za-z]{0,14}(?: [A-Z]?[a-z]{1,10})?)\**:[ \t]+[A-Za-z][a-z']*,?(?: [^ \n]+){4}")


# A line that opens with a statement of a programming language and no English sentence: "def f(", "import x",
# "return", "self.", "func ", "const ", "#include", "fi". Python ends its lines in no ";" or "}", so
# code_line_share missed it: bare Python held out ranked like documentation (AUC 0.77; with this 0.84, RESULTS).
_STATEMENT = re.compile(r"(?m)^[ \t]*(?:def |class \w+[(:]|import \w|from [\w.]+ import |elif |return\b|raise |yield |try:|except\b"
                        r"|self\.|func |var |const |let |function\b|#include|#define|fi$|esac$|done$|local )")


def _speaker_changes(text: str) -> int:
    labels = _TURN.findall(text)
    return sum(a != b for a, b in zip(labels, labels[1:]))


def style_features(texts: Sequence[str], n_features: int, max_chars: int) -> StyleFeatures:
    """The token stream's hashed 1-3-grams, the layout statistics and the word buckets of the gate.
    Per text only the regex tokenisation and one dict lookup per token run in Python; the rest is
    numpy over the whole batch (per-document sums by bincount)."""
    from scipy import sparse

    vocab, n_docs = _VOCAB, len(texts)
    texts = [t[:max_chars] for t in texts]
    idxs = []
    for text in texts:
        toks = _TOKEN.findall("\n" + text)
        idxs.append(np.fromiter(map(vocab.__getitem__, toks), dtype=np.int64, count=len(toks)))
    if not n_docs:
        return StyleFeatures(sparse.csr_matrix((0, n_features)), np.empty((0, len(LAYOUT_NAMES))), [])
    lens = np.array([len(i) for i in idxs])
    idx = np.concatenate(idxs)
    doc = np.repeat(np.arange(n_docs), lens)
    hashes, table = vocab.arrays()
    h, P = hashes[idx], table[idx]
    same2, same3 = doc[:-1] == doc[1:], doc[:-2] == doc[2:]
    with np.errstate(over="ignore"):
        g2 = ((h[:-1] * _K + h[1:]) ^ _ORDER_SALT[1])[same2]
        g3 = (((h[:-2] * _K + h[1:-1]) * _K + h[2:]) ^ _ORDER_SALT[2])[same3]
    cols = np.concatenate([h + _ORDER_SALT[0], g2, g3]) % np.uint64(n_features)
    rows = np.concatenate([doc, doc[:-1][same2], doc[:-2][same3]])
    counts = sparse.coo_matrix((np.ones(len(rows)), (rows, cols.astype(np.int64))), shape=(n_docs, n_features)).tocsr()
    # The gate's words: two letters or more (as sklearn's word pattern), each with its bucket.
    gate_word = P[:, 0].astype(bool) & (P[:, 3] >= 2)
    splits = np.cumsum(lens)[:-1]
    buckets = [b[w] for b, w in zip(np.split(P[:, 5], splits), np.split(gate_word, splits))]
    return StyleFeatures(counts, _layout(texts, idx, doc, P, n_docs), buckets)


def _layout(texts, idx, doc, P, n_docs) -> np.ndarray:
    """The layout statistics of each document, from its tokens' properties."""
    (is_word, is_fw, is_person, wlen, is_end, _bucket, n_upper, n_digit, is_symbol, is_cop, is_det, is_marker, is_line,
     is_indent, is_blank, is_bullet, is_number, is_close, is_end_punct, is_code_end, is_cap) = P.T
    is_word = is_word.astype(bool)

    def per_doc(values, where=doc):
        return np.bincount(where, weights=values, minlength=n_docs)

    n_tok = len(idx)
    chars = np.array([max(len(t), 1) for t in texts], dtype=np.float64)
    n_lines = np.array([t.count("\n") + 1 for t in texts], dtype=np.float64)
    # Lines: from each line-start token to the token before the next one (every document starts with one).
    starts = np.flatnonzero(is_line)
    first, last = starts + 1, np.r_[starts[1:], n_tok] - 1
    full = first <= last
    first, last, line_doc = first[full], last[full], doc[starts[full]]
    nl = np.maximum(per_doc(np.ones(len(first)), line_doc), 1)
    tokens_per_line = last - first + 1
    nxt = np.minimum(first + 1, n_tok - 1)
    bullets = is_bullet[first] | (is_number[first] & is_close[nxt] & (nxt > first))
    headings = is_cap[first] & (tokens_per_line <= 8) & (is_end_punct[last] == 0) & (is_close[last] == 0)
    # Sentences: word counts between sentence-ending tokens (and document starts).
    boundary = np.r_[1, (doc[1:] != doc[:-1]) | (is_end[:-1] == 1)]
    segment = np.cumsum(boundary) - 1
    seg_words = np.bincount(segment, weights=is_word, minlength=segment[-1] + 1)
    seg_doc = doc[np.flatnonzero(boundary)]
    real = seg_words > 0
    ns = np.maximum(per_doc(real.astype(float), seg_doc), 1)
    mean_len = per_doc(seg_words * real, seg_doc) / ns
    sd_len = np.sqrt(np.maximum(per_doc(seg_words**2 * real, seg_doc) / ns - mean_len**2, 0.0))
    nw = np.maximum(per_doc(is_word), 1)
    pairs = np.r_[(is_cop[:-1] & is_det[1:]) * (doc[:-1] == doc[1:]), 0]
    distinct = np.unique(doc[is_word] * (idx.max() + 1) + idx[is_word]) // (idx.max() + 1)
    counts = np.array([[t.count("?"), t.count("!"), t.count('"') + t.count("\u201c") + t.count("\u201d"), t.count(":"), t.count("("),
                        _speaker_changes(t), len(_STATEMENT.findall(t))] for t in texts], dtype=np.float64)
    return np.column_stack([
        np.log1p(chars),
        np.log1p(mean_len),
        np.log1p(sd_len),
        1000.0 * n_lines / chars,
        np.log1p(np.maximum(chars - n_lines, 0) / nl),
        per_doc(tokens_per_line < 8, line_doc) / nl,
        per_doc(is_blank) / n_lines,
        per_doc(is_indent[starts[full]], line_doc) / nl,
        per_doc(bullets, line_doc) / nl,
        per_doc(headings, line_doc) / nl,
        per_doc(is_code_end[last], line_doc) / nl,
        per_doc(is_symbol) / chars,
        per_doc(n_digit) / chars,
        per_doc(n_upper) / chars,
        per_doc(is_fw) / nw,
        per_doc(wlen) / nw,
        np.bincount(distinct, minlength=n_docs) / np.sqrt(nw),
        (per_doc(is_marker) + per_doc(pairs)) / ns,  # "means", "is a", ...
        counts[:, 0] / ns,
        counts[:, 1] / ns,
        counts[:, 2] / chars * 100,
        per_doc(is_person) / nw,
        counts[:, 3] / chars * 100,
        counts[:, 4] / chars * 100,
        per_doc(is_end_punct[last], line_doc) / nl,
        np.log1p(10.0 * counts[:, 5] / n_lines),
        counts[:, 6] / n_lines,
    ])


def layout(text: str, max_chars: int = 100_000) -> np.ndarray:
    """The layout statistics of one text (LAYOUT_NAMES)."""
    return style_features([text], 2**10, max_chars).layout[0]


def layout_matrix(texts: Sequence[str], max_chars: int = 100_000) -> np.ndarray:
    return style_features(texts, 2**10, max_chars).layout


def style_counts(texts: Sequence[str], n_features: int, max_chars: int):
    """Hashed counts of the 1-3-grams of the token stream (rows = documents)."""
    return style_features(texts, n_features, max_chars).counts


# A few fixed texts of several kinds (prose, code, a list, typographic quotes, chat, a heading).
_PROBE_TEXTS = (
    "The `fork()` call creates a new process. For example:\n\n    pid = fork()\n    if pid == 0: exit(1)\n",
    "Sourdough rises because wild yeasts ferment the sugars in flour \u2014 a \u201cstarter\u201d is fed daily.\n"
    "- flour, 500 g\n- water, 350 g\n\nWhy does it taste sour? Lactic acid bacteria!\n",
    "# Notes\nanna: did u finish the scarf??\nben: lol no. I dropped a stitch again\nx = [1, 2.5]; y = {'a': 3}\n",
)


@functools.lru_cache(maxsize=8)
def feature_fingerprint(n_features: int, max_chars: int) -> str:
    """A short hash of the style features of a few fixed texts: it changes whenever the features
    change. A model stores the fingerprint of the code that trained it, so that a model whose
    features the scorer no longer computes is refused at load (QualityModel.load) and a stale
    built-in model fails the tests (tests/curate/test_quality_builtin.py)."""
    f = style_features(_PROBE_TEXTS, n_features, max_chars)
    counts = f.counts.tocsr()
    counts.sum_duplicates()
    counts.sort_indices()
    h = hashlib.sha256()
    for part in (counts.indptr, counts.indices, counts.data, np.round(f.layout, 4) + 0.0, *f.word_buckets):
        h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]
