"""The per-document steps: language ID on real conversations, HTML sources, cut decontamination."""

from __future__ import annotations

import json

from pintsize.curate.config import DataConfig, SourceConfig
from pintsize.curate.decontam import DecontamIndex
from pintsize.curate.normalize import normalize_whitespace
from pintsize.curate.records import Removed, make_document
from pintsize.curate.stats import Funnel
from pintsize.curate.steps import DocumentSteps

from .realdata import postgres_html_files, pydoc_texts, read, sharegpt_chats

# ShareGPT conversations read by a person: Spanish, Indonesian, Spanish, Italian.
NOT_ENGLISH = {89: "es", 96: "id", 1029: "es", 1451: "it"}


def _run(steps: DocumentSteps, text: str, source: SourceConfig, funnel: Funnel | None = None):
    return steps.run(make_document("t/1", text, source.name), source, funnel or Funnel())


def test_language_removes_other_languages_and_skips_code():
    config = DataConfig(heuristics={"enabled": False})
    steps = DocumentSteps(config)
    chats = sharegpt_chats(1452)
    prose, code = SourceConfig(name="chat", path="x"), SourceConfig(name="src", path="y", profile="code")
    for i, lang in NOT_ENGLISH.items():
        out = _run(steps, chats[i], prose)
        assert isinstance(out, Removed) and (out.step, out.reason) == ("language", f"other_language:{lang}")
        assert not isinstance(_run(steps, chats[i], code), Removed)  # code is not judged by language
    english = [c for i, c in enumerate(chats[:40]) if i not in NOT_ENGLISH]
    kept = [d for d in (_run(steps, c, prose) for c in english) if not isinstance(d, Removed)]
    assert len(kept) >= 38 and all(d.metadata["meta"]["language"] == "en" for d in kept)


def test_html_source_is_extracted_before_the_rules():
    page = read(postgres_html_files(1)[0])
    source = SourceConfig(name="pg", path="x", format="text", html="inscriptis", profile="docs")
    funnel = Funnel()
    doc = _run(DocumentSteps(DataConfig()), page, source, funnel)
    assert not isinstance(doc, Removed), doc.reason
    assert "<div" not in doc.text and "PostgreSQL" in doc.text
    assert funnel.steps["normalize"]["pg"]["tokens_out"] < funnel.steps["normalize"]["pg"]["tokens_in"]


def test_cut_mode_keeps_the_document_without_the_leak(tmp_path):
    leak = sharegpt_chats(80)[70][:1500]
    (tmp_path / "bench.jsonl").write_text(json.dumps({"question": leak}) + "\n")
    config = DataConfig(decontamination={"paths": [str(tmp_path)], "mode": "cut"})
    DecontamIndex.build([str(tmp_path)], 13).save(tmp_path / "index.npz")
    steps = DocumentSteps(config, tmp_path / "index.npz")
    source = SourceConfig(name="docs", path="x", profile="docs")
    page = pydoc_texts(30)[25]["text"][:5000]
    funnel = Funnel()
    doc = _run(steps, page + "\n\n" + leak, source, funnel)
    assert not isinstance(doc, Removed), doc.reason
    assert leak[200:400] not in doc.text
    assert normalize_whitespace(page)[:500] in doc.text
    assert doc.metadata["meta"]["decontaminated"]["bench"] > 0
    assert funnel.contamination["bench"]["docs"] == 1
