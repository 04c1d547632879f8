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
    """Main-content extraction (trafilatura, through datatrove's extractor) or the whole page laid
    out as text (inscriptis: keeps tables and code blocks, which docs need)."""
    if method == "trafilatura":
        from datatrove.pipeline.extractors import Trafilatura

        return _trafilatura_blocks_as_text(Trafilatura(favour_precision=True, output_format="xml").extract(html) or "")
    import inscriptis

    return inscriptis.get_text(html)


# Deviation from datatrove (which takes trafilatura's plain-text output): trafilatura's text keeps
# the page source's line breaks inside a paragraph (a manual's "<code>cube</code>\nfor" becomes
# two lines) and puts one newline between paragraphs. Laid out that way, 94% of the PostgreSQL
# manual's pages fell below the built-in quality model's threshold (RESULTS, issue 26). Here the
# main content comes as trafilatura's XML and is laid out as a browser shows it: whitespace in a
# paragraph collapses (a <br> stays a line break), paragraphs are separated by a blank line, code
# keeps the lines trafilatura gives it, list items and table rows get one line each.
_VERBATIM = {"code", "quote"}  # trafilatura's XML for <pre>/<code> blocks and <blockquote>
_BR = "\ue000"  # stands for a <br> (<lb/>) while the source's own newlines collapse


def _trafilatura_blocks_as_text(xml: str) -> str:
    if not xml:
        return ""
    from lxml import etree

    try:
        main = etree.fromstring(xml.encode("utf-8")).find("main")
    except etree.XMLSyntaxError:
        return ""
    if main is None:
        return ""

    for br in main.iter("lb"):  # a <br>: the one line break a paragraph keeps (verse, addresses)
        br.text = _BR

    def flat(el) -> str:
        return "\n".join(" ".join(line.split()) for line in "".join(el.itertext()).split(_BR)).strip()

    blocks = []
    for el in main:
        if el.tag in _VERBATIM:
            text = "".join(el.itertext()).replace(_BR, "\n")
            block = "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))
        elif el.tag == "list":
            block = "\n".join(f"- {flat(item)}" for item in el.iter("item"))
        elif el.tag == "table":
            block = "\n".join(" | ".join(flat(cell) for cell in row.iter("cell")) for row in el.iter("row"))
        else:
            block = flat(el)
        if block.strip():
            blocks.append(block)
    return "\n\n".join(blocks)
