"""Step 1: HTML to text (optional), Unicode repair (ftfy) and whitespace normalization."""

from __future__ import annotations

import re

from pintsize.curate.config import NormalizeConfig

_TRAILING = re.compile(r"[^\S\n]+$", re.M)
_BLANK_RUNS = re.compile(r"\n{3,}")
# What ftfy (with datatrove's settings) can change in an ASCII line: HTML entities and the
# control characters it removes (terminal escapes included).
_ASCII_TRIGGERS = re.compile(r"[&\x00-\x08\x0b\x0e-\x1f\x7f]")


def _untouched(segment: str) -> bool:
    return segment.isascii() and _ASCII_TRIGGERS.search(segment) is None


def fix_text(text: str, config) -> str:
    """`ftfy.fix_text(text, config)`, the same result, skipping the lines ftfy cannot change.

    ftfy fixes a text line by line, which costs ~1 MB/s on documentation; most lines are plain
    ASCII that no fixer touches. This replays ftfy's own loop (including its rule that a line
    with "<" turns HTML unescaping off for the rest of the text) and calls ftfy only on the
    other lines. tests/curate checks equality with ftfy on real text."""
    import ftfy

    if _untouched(text):
        return text
    out, pos = [], 0
    while pos < len(text):
        end = text.find("\n", pos) + 1 or len(text)
        end = min(end, pos + config.max_decode_length)
        segment = text[pos:end]
        if config.unescape_html == "auto" and "<" in segment:
            config = config._replace(unescape_html=False)
        out.append(segment if _untouched(segment) else ftfy.fix_and_explain(segment, config).text)
        pos = end
    return "".join(out)


def normalize_whitespace(text: str) -> str:
    """Unify line ends, strip trailing whitespace and collapse 3+ blank lines into one blank line.
    Leading indentation and inner spacing are kept: they carry the structure of code and tables."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


class Normalizer:
    def __init__(self, config: NormalizeConfig):
        self.config = config
        self._ftfy = None
        if config.enabled and config.ftfy:
            # datatrove's settings: repair encodings, keep the writer's characters (curly quotes,
            # full-width punctuation, ligatures are left alone).
            from datatrove.pipeline.formatters import FTFYFormatter

            self._ftfy = FTFYFormatter()

    def __call__(self, text: str) -> str:
        if not self.config.enabled:
            return text
        if self._ftfy is not None:
            text = fix_text(text, self._ftfy.config)
        if self.config.whitespace:
            text = normalize_whitespace(text)
        return text


def html_to_text(html: str, method: str) -> str:
    """Main-content extraction (trafilatura, as datatrove's extractor calls it) or the whole
    page laid out as text (inscriptis: keeps tables and code blocks, which docs need)."""
    if method == "trafilatura":
        from datatrove.pipeline.extractors import Trafilatura

        return Trafilatura(favour_precision=True).extract(html) or ""
    import inscriptis

    return inscriptis.get_text(html)
