"""Normalization: ftfy's result at a fraction of its cost; whitespace rules that keep code intact."""

from __future__ import annotations

import ftfy
from datatrove.pipeline.formatters import FTFYFormatter

from pintsize.curate.config import NormalizeConfig
from pintsize.curate.normalize import Normalizer, fix_text, html_to_text, normalize_whitespace

from .realdata import postgres_html_files, pydoc_texts, read, sharegpt_chats

EDGE_CASES = [
    "caf\u00c3\u00a9 au lait",  # UTF-8 read as Latin-1 (mojibake)
    "1 &lt; 2 &amp;&amp; 3 &gt; 2",  # entities: unescaped when no "<" came before
    "<b>bold</b>\nthen &amp; later",  # a "<" turns unescaping off for the rest of the text
    "red \x1b[31malert\x1b[0m and a NUL\x00 and DEL\x7f",
    "\u201ccurly\u201d quotes, \ufb01 ligature, full-width \uff21",  # kept as written
    "C1 \x85 control\r\nCRLF line",
]


def test_fix_text_equals_ftfy_with_datatrove_settings():
    config = FTFYFormatter().config
    texts = EDGE_CASES + [d["text"] for d in pydoc_texts(60)] + list(sharegpt_chats(200))
    texts += [read(p) for p in postgres_html_files(10)]  # raw HTML: entities and tags
    changed = 0
    for text in texts:
        expected = ftfy.fix_text(text, config)
        assert fix_text(text, config) == expected
        changed += expected != text
    assert changed >= 4  # mojibake, entities, escapes, C1: the comparison covers texts ftfy changes


def test_whitespace_keeps_indentation_and_collapses_blank_runs():
    text = "def f():\r\n    return 1   \r\n\n\n\n\nclass C:\n\tpass\t\n\n"
    assert normalize_whitespace(text) == "def f():\n    return 1\n\nclass C:\n\tpass"
    for doc in pydoc_texts(20):
        once = normalize_whitespace(doc["text"])
        assert normalize_whitespace(once) == once
        assert [line.lstrip() for line in once.split("\n") if line.strip()] == [
            line.strip() for line in doc["text"].split("\n") if line.strip()
        ]


def test_normalizer_switches():
    raw = "caf\u00c3\u00a9   \n\n\n\nx"
    assert Normalizer(NormalizeConfig(enabled=False))(raw) == raw
    assert Normalizer(NormalizeConfig(ftfy=False))(raw) == "caf\u00c3\u00a9\n\nx"
    assert Normalizer(NormalizeConfig(whitespace=False))(raw) == "caf\u00e9   \n\n\n\nx"


def test_html_to_text_on_a_real_manual_page():
    page = read(postgres_html_files(1)[0])
    for method in ("trafilatura", "inscriptis"):
        text = html_to_text(page, method)
        assert "<div" not in text and "</" not in text
        assert len(text.split()) > 50


def test_trafilatura_text_is_laid_out_as_a_browser_shows_it():
    """A manual's HTML wraps its source lines anywhere, even around inline code. Main-content text
    keeps a paragraph on one line and a blank line between paragraphs (the layout the quality
    model reads), a <br> as a line break, code blocks as paragraphs and list items one a line."""
    body = (
        "<p>The <code>cube</code>\nmodule implements a data type\n<code>cube</code> for representing\n"
        "multidimensional cubes, which the planner can index with a GiST operator class.</p>\n"
        "<p>Values are stored internally as 64-bit floating point numbers. This means that numbers with more "
        "than about 16 significant digits will be truncated when they are read back.</p>\n"
        "<pre>SELECT cube(1, 2);\n  SELECT cube_dim('(1,2),(3,4)');</pre>\n"
        "<p>Roses are red,<br>violets are blue,<br>sugar is sweet and so are you, as every reader of verse knows.</p>\n"
        "<ul><li>The first item of the list explains one thing.</li><li>The second item of the list explains another.</li></ul>\n"
        "<blockquote>The first line of the quoted notice,<br>and the second line of the quoted notice.</blockquote>\n"
    )
    page = f"<html><head><title>cube</title></head><body><article><h1>F.9. cube</h1>{body * 2}</article></body></html>"
    text = html_to_text(page, "trafilatura")
    paragraphs = text.split("\n\n")
    assert ("The cube module implements a data type cube for representing multidimensional cubes, which the planner "
            "can index with a GiST operator class.") in paragraphs
    # trafilatura itself joins a <pre>'s lines (its text output too); the block stays a paragraph of its own.
    assert "SELECT cube(1, 2); SELECT cube_dim('(1,2),(3,4)');" in paragraphs
    assert "Roses are red,\nviolets are blue,\nsugar is sweet and so are you, as every reader of verse knows." in paragraphs
    assert ("- The first item of the list explains one thing.\n- The second item of the list explains another.") in paragraphs
    assert "The first line of the quoted notice,\nand the second line of the quoted notice." in paragraphs
    assert "<" not in text.replace("'(1,2)", "") and "\ue000" not in text
