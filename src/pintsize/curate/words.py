"""datatrove's English word tokenizer (blank spaCy + sentencizer), same output, many times faster.

datatrove's Gopher, C4 and FineWeb filters split text with spaCy; that is most of their cost
(DESIGN.md: Gopher quality is ~92% of the chain's time). spaCy's tokenizer cuts the text at
whitespace and tokenizes every whitespace-free span on its own, caching each span. We keep that
structure and add the cache spaCy lacks across documents: a span's tokens are computed by spaCy
once per process and reused, and the sentencizer's rule is replayed on the cached tokens. The
output equals spaCy's, token for token and sentence span for sentence span (tests/curate checks
this on tens of MB of real documentation). Pass an instance as the `language` of a datatrove
filter: `GopherQualityFilter(language=CachedSpacyTokenizer())`.
"""

from __future__ import annotations

import re

from datatrove.utils.word_tokenizers import WordTokenizer, strip_strings

_RUNS = re.compile(r"\s+|\S+")
# (text, offset in its span, is_punct, is a sentence-ending character)
_Token = tuple[str, int, bool, bool]


class CachedSpacyTokenizer(WordTokenizer):
    def __init__(self, language: str = "en", max_cache: int = 200_000):
        super().__init__(language)
        self.max_cache = max_cache
        self._nlp = None
        self._punct_chars: frozenset[str] = frozenset()
        self._cache: dict[str, tuple[_Token, ...]] = {}

    def __getstate__(self) -> dict:
        return {"language": self.language, "max_cache": self.max_cache}  # spaCy and the cache are rebuilt

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def _tokenizer(self):
        if self._nlp is None:
            import spacy
            from spacy.pipeline import Sentencizer

            self._nlp = spacy.blank(self.language).tokenizer
            self._punct_chars = frozenset(Sentencizer.default_punct_chars)
        return self._nlp

    def _span(self, span: str) -> tuple[_Token, ...]:
        tokens = self._cache.get(span)
        if tokens is None:
            if len(self._cache) >= self.max_cache:
                self._cache.clear()
            doc = self._tokenizer()(span)
            tokens = tuple((t.text, t.idx, t.is_punct, t.text in self._punct_chars) for t in doc)
            self._cache[span] = tokens
        return tokens

    def word_tokenize(self, text: str) -> list[str]:
        # str.split() and spaCy agree on what whitespace is (str.isspace); whitespace tokens are
        # dropped by datatrove's strip_strings anyway.
        words: list[str] = []
        for span in text.split():
            words.extend(t[0] for t in self._span(span))
        return words

    def _all_tokens(self, text: str) -> list[tuple[int, int, bool, bool]]:
        """(start, end, is_punct, ends_sentence) of every spaCy token, whitespace tokens included:
        spaCy folds one ' ' after a token into that token and makes the rest of a whitespace run
        (or the whole run at the start of the text) a token of its own."""
        out = []
        for m in _RUNS.finditer(text):
            run, start = m.group(), m.start()
            if run[0].isspace():
                if run[0] == " " and start > 0:
                    run, start = run[1:], start + 1
                if run:
                    out.append((start, start + len(run), False, False))
            else:
                out.extend((start + off, start + off + len(t), p, pc) for t, off, p, pc in self._span(run))
        return out

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        """spaCy's Sentencizer: a sentence ends after a run of punctuation that holds one of its
        sentence-ending characters."""
        tokens = self._all_tokens(text)
        if not tokens:
            return []
        starts, seen_end = [0], False
        for i, (_, _, is_punct, ends) in enumerate(tokens):
            if seen_end and not is_punct and not ends:
                starts.append(i)
                seen_end = False
            elif ends:
                seen_end = True
        bounds = starts[1:] + [len(tokens)]
        return [(tokens[a][0], tokens[b - 1][1]) for a, b in zip(starts, bounds)]

    def sent_tokenize(self, text: str) -> list[str]:
        return strip_strings([text[a:b] for a, b in self.span_tokenize(text)])
