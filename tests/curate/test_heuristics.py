"""The heuristic step decides as datatrove's filters do, and the profiles keep documentation."""

from __future__ import annotations

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

from pintsize.curate.heuristics import HeuristicChain
from pintsize.curate.normalize import html_to_text, normalize_whitespace
from pintsize.curate.profiles import PROFILES
from pintsize.curate.words import CachedSpacyTokenizer

from .realdata import postgres_html_files, pydoc_texts, python_rst_files, read, sharegpt_chats, web_asset_files


def _datatrove_fineweb_chain(text: str) -> tuple[str | None, str]:
    """FineWeb's filters exactly as datatrove ships them (spaCy word tokenizer, default
    thresholds, C4 without the terminal-punctuation rule); returns (rule, final text)."""
    doc = Document(text=text, id="x")
    for name, flt in (
        ("gopher_repetition", GopherRepetitionFilter()),
        ("gopher_quality", GopherQualityFilter()),
        ("c4", C4QualityFilter(filter_no_terminal_punct=False)),
        ("fineweb", FineWebQualityFilter()),
    ):
        result = flt.filter(doc)
        if result is not True:
            return f"{name}/{result[1]}", doc.text
    return None, doc.text


def test_web_profile_decides_exactly_as_datatrove():
    texts = [d["text"] for d in pydoc_texts(8)] + list(sharegpt_chats(40))
    chain = HeuristicChain(PROFILES["web"])
    kept = 0
    for text in texts:
        expected_reason, expected_text = _datatrove_fineweb_chain(text)
        doc = Document(text=text, id="x")
        assert chain.check(doc) == expected_reason
        if expected_reason is None:
            kept += 1
            assert doc.text == expected_text  # C4's line removal, as FineWeb applies it
    assert 0 < kept < len(texts)  # the sample exercises both outcomes


_TOKENIZER = CachedSpacyTokenizer()  # one warm cache for all the chains of this module


def _kept_share(profile: str, texts: list[str]) -> float:
    chain = HeuristicChain(PROFILES[profile], _TOKENIZER)
    return sum(chain.check(Document(text=t, id="x")) is None for t in texts) / len(texts)


@pytest.fixture(scope="module")
def corpora() -> dict[str, list[str]]:
    return {
        "python_rst": [normalize_whitespace(read(p)) for p in python_rst_files(60)],
        "postgres": [normalize_whitespace(html_to_text(read(p), "inscriptis")) for p in postgres_html_files(40)],
        "js_css": [normalize_whitespace(read(p)) for p in web_asset_files()],
    }


def test_web_defaults_reject_documentation_as_measured(corpora):
    # DESIGN.md's anchor: FineWeb's web-tuned chain keeps a small share of technical docs.
    assert _kept_share("web", corpora["python_rst"]) < 0.10
    assert _kept_share("web", corpora["js_css"]) == 0.0


def test_docs_profile_keeps_documentation_and_still_removes_junk(corpora):
    assert _kept_share("docs", corpora["python_rst"]) >= 0.80
    assert _kept_share("docs", corpora["postgres"]) >= 0.80
    assert _kept_share("docs", corpora["js_css"]) <= 0.15


def test_code_profile_keeps_source_code():
    import sysconfig
    from pathlib import Path

    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:40]
    texts = [normalize_whitespace(p.read_text(encoding="utf-8", errors="replace")) for p in stdlib]
    assert _kept_share("web", texts) < 0.05
    assert _kept_share("code", texts) >= 0.85


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
def test_a_text_of_no_words_is_removed_not_a_crash():
    rules = PROFILES["code"].model_copy(deep=True)
    rules.gopher_quality.min_doc_words = None
    assert HeuristicChain(rules).check(Document(text="... ---", id="x")) is not None
