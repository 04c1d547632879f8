"""Per-source rule profiles for the heuristic filters (web, prose, docs, code).

Every rule and default comes from datatrove's filters as FineWeb runs them: Gopher repetition,
Gopher quality, C4 without its terminal-punctuation rule, and FineWeb's line rules. The `web`
profile is exactly that recipe. Web-tuned thresholds reject most expository technical text
(measured on the Python, Linux and PostgreSQL docs: FineWeb's chain keeps 0-4% of them, see
DESIGN.md), so the other profiles relax only the rules that misfire on their kind of text, each
for the reason written next to it.

Share of documents kept, measured on real text (tests/curate asserts bounds on samples):

    corpus                               web    docs   code
    Python 3.11 docs (reST, 1,491)        0%     88%    96%
    PostgreSQL 15 manual (HTML, 1,169)   38%     89%    99%
    Linux 6.1 docs (reST, 600)            4%     68%    82%
    stdlib pydoc pages (464)              3%     51%    56%   (generated, repeats docstrings)
    stdlib source code (*.py, 168)        0%     65%    95%
    JS/CSS of the docs' HTML (junk, 45)   0%      7%    73%
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.config_base import Section

ProfileName = Literal["web", "prose", "docs", "code"]


class GopherRepetitionRules(Section):
    """datatrove GopherRepetitionFilter; None disables a rule, an empty list disables a family."""

    enabled: bool = True
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: list[tuple[int, float]] = [(2, 0.2), (3, 0.18), (4, 0.16)]
    dup_n_grams: list[tuple[int, float]] = [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]


class GopherQualityRules(Section):
    """datatrove GopherQualityFilter; None disables a rule."""

    enabled: bool = True
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: int | None = 3
    max_avg_word_length: int | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = Field(0.8, description="the least share of words with a letter")
    min_stop_words: int | None = 2


class C4Rules(Section):
    """datatrove C4QualityFilter, always without the terminal-punctuation line rule (as FineWeb)."""

    enabled: bool = True
    remove_lines: bool = Field(
        True, description="apply C4's line removals to the text (short lines, 'javascript', policy lines); "
        "false keeps the text and uses C4 only to decide on the document"
    )
    min_num_sentences: int = 5
    min_words_per_line: int = 3
    max_word_length: int = 1000
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    remove_citations: bool = True


class FineWebRules(Section):
    """datatrove FineWebQualityFilter."""

    enabled: bool = True
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


class ProfileRules(Section):
    language_id: bool = Field(True, description="run language identification on this kind of text")
    gopher_repetition: GopherRepetitionRules = Field(default_factory=GopherRepetitionRules)
    gopher_quality: GopherQualityRules = Field(default_factory=GopherQualityRules)
    c4: C4Rules = Field(default_factory=C4Rules)
    fineweb: FineWebRules = Field(default_factory=FineWebRules)


# In documentation the count-based duplicate-line/paragraph rules fire on structure that repeats
# by design (headings such as "Parameters", one-line entries, code lines such as "}"); the
# character-based variants still measure how much *text* is repeated, so they stay, at 1.5x.
# The top-n-gram rule measures markup there: datatrove's spaCy word tokenizer splits a reST
# heading underline "=====" into "=" tokens, so "= = =" is the top 3-gram of most kernel docs.
# Duplicated n-grams: identifiers and signatures recur in any API reference, so 2x.
_DOCS_REPETITION = GopherRepetitionRules(
    dup_line_frac=None,
    dup_para_frac=None,
    dup_line_char_frac=0.3,
    dup_para_char_frac=0.3,
    top_n_grams=[],
    dup_n_grams=[(5, 0.30), (6, 0.28), (7, 0.26), (8, 0.24), (9, 0.22), (10, 0.20)],
)

PROFILES: dict[str, ProfileRules] = {
    # FineWeb's recipe, unchanged.
    "web": ProfileRules(),
    # Curated long-form prose (books, articles, encyclopedias) is already clean: keep its lines
    # as written (C4's line removal would drop headings and verse) and its length (Gopher's
    # 100k-word cap would drop every novel). All document rules keep FineWeb's thresholds.
    "prose": ProfileRules(
        gopher_quality=GopherQualityRules(max_doc_words=None),
        c4=C4Rules(remove_lines=False),
    ),
    "docs": ProfileRules(
        gopher_repetition=_DOCS_REPETITION,
        gopher_quality=GopherQualityRules(
            # Code samples and API signatures are mostly punctuation tokens ("(", ")", ":", "."):
            # documentation has a median of 60% words with a letter, generated JS/CSS 41%.
            max_non_alpha_words_ratio=0.4,
        ),
        c4=C4Rules(
            remove_lines=False,  # removing lines under 3 words would cut code blocks apart
            filter_curly_bracket=False,  # code samples have braces
            min_num_sentences=3,  # a focused reference page can be short
        ),
        fineweb=FineWebRules(
            # Lines of code, tables and headings do not end in punctuation: docs have a median of
            # 16-20% such lines (5th percentile ~5%), JS/CSS and index pages 1-2%.
            line_punct_thr=0.05,
            char_duplicates_ratio=0.3,  # see the repetition note above
            short_line_thr=0.8,  # code lines are short
        ),
    ),
    # Source code: the natural-language rules (stop words, sentences, punctuation, bullets) do
    # not apply. What stays catches generated or degenerate files: length bounds, average token
    # length (minified or encoded blobs), and repetition.
    "code": ProfileRules(
        language_id=False,
        gopher_repetition=_DOCS_REPETITION,
        gopher_quality=GopherQualityRules(
            min_doc_words=20,
            min_avg_word_length=2,
            max_symbol_word_ratio=None,
            max_bullet_lines_ratio=None,
            max_ellipsis_lines_ratio=None,
            max_non_alpha_words_ratio=0.3,
            min_stop_words=None,
        ),
        c4=C4Rules(enabled=False),
        fineweb=FineWebRules(enabled=False),
    ),
}
