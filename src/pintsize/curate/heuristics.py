"""Step 3: the heuristic quality rules, run by datatrove's own filter classes.

The rule code is datatrove's (Gopher repetition, Gopher quality, C4 without the terminal-
punctuation rule, FineWeb), in FineWeb's order, with each profile's thresholds. The one change
is the word tokenizer they are given: `CachedSpacyTokenizer`, which returns exactly what
datatrove's spaCy tokenizer returns, much faster. So the decisions are datatrove's decisions.
"""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter

from pintsize.curate.profiles import ProfileRules
from pintsize.curate.words import CachedSpacyTokenizer


class HeuristicChain:
    """The filters of one profile. `check` returns None to keep a document (whose text C4 may
    have shortened, when the profile removes lines) or the rule that removed it, e.g.
    `gopher_quality/gopher_below_alpha_threshold`."""

    def __init__(self, rules: ProfileRules, tokenizer: CachedSpacyTokenizer | None = None):
        tok = tokenizer or CachedSpacyTokenizer()
        self.filters: list[tuple[str, BaseFilter, bool]] = []  # (name, filter, may edit the text)
        rep, qual, c4, fw = rules.gopher_repetition, rules.gopher_quality, rules.c4, rules.fineweb
        if rep.enabled:
            kw = rep.model_dump(exclude={"enabled"})
            self.filters.append(("gopher_repetition", GopherRepetitionFilter(language=tok, **kw), False))
        if qual.enabled:
            self.filters.append(("gopher_quality", GopherQualityFilter(language=tok, **qual.model_dump(exclude={"enabled"})), False))
        if c4.enabled:
            kw = c4.model_dump(exclude={"enabled", "remove_lines"})
            f = C4QualityFilter(language=tok, filter_no_terminal_punct=False, split_paragraph=True, **kw)
            self.filters.append(("c4", f, c4.remove_lines))
        if fw.enabled:
            self.filters.append(("fineweb", FineWebQualityFilter(language=tok, **fw.model_dump(exclude={"enabled"})), False))

    def check(self, doc: Document) -> str | None:
        for name, flt, edits_text in self.filters:
            # C4 rewrites doc.text to the lines it keeps; a profile that keeps its lines lets it
            # judge a copy.
            target = doc if edits_text else Document(text=doc.text, id=doc.id)
            try:
                result = flt.filter(target)
            except ZeroDivisionError:  # datatrove divides by the word count; a text of only spaces has none
                return f"{name}/no_words"
            keep, reason = result if isinstance(result, tuple) else (result, None)
            if not keep:
                return f"{name}/{reason or 'rejected'}"
        return None
