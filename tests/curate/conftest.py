"""A small multi-source raw corpus of real text with every kind of bad record, and its curated
artifact (computed once per session and shared by the pipeline tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pintsize.curate.config import DataConfig

from .realdata import pydoc_texts, python_rst_files, read, sharegpt_chats


def _jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


@pytest.fixture(scope="session")
def raw_corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("raw")
    pages = pydoc_texts(skip_codecs=False)
    # Real near-duplicates: asyncio's event-loop pages share most of their text (Jaccard 0.7-0.8).
    near = [p for p in pages if p["meta"]["module"] in ("asyncio.base_events", "asyncio.proactor_events", "asyncio.selector_events")]
    plain = pydoc_texts(60)[20:50]
    pii_page = plain.pop(2)
    eval_question = sharegpt_chats(80)[70][:1500]  # stands in for a benchmark item (no shared boilerplate)
    eval_dir = root / "eval"
    eval_dir.mkdir()
    (eval_dir / "bench.jsonl").write_text(json.dumps({"question": eval_question, "answer": "42"}) + "\n")

    docs = [{"text": p["text"][:6000], "module": p["meta"]["module"]} for p in plain] + [{"text": p["text"], "module": p["meta"]["module"]} for p in near]
    docs.append({"text": plain[0]["text"][:6000]})  # an exact copy
    docs.append({"text": plain[1]["text"][:3000] + "\n\n" + eval_question})  # a leaked benchmark item
    docs.append({"text": "Contact ops@example.net or (212) 555-0187.\n\n" + pii_page["text"][:6000]})
    lines = [json.dumps(d).encode() for d in docs]
    bad = [b'{"text": "cut off', b'{"text": "caf\xe9 latin-1"}', json.dumps({"body": "x"}).encode(), json.dumps({"text": " "}).encode()]
    lines = lines[:10] + bad + lines[10:]
    docs_path = _jsonl(root / "docs.jsonl", lines)

    chats = list(sharegpt_chats(40))
    chat_path = _jsonl(root / "chat.jsonl", [json.dumps({"text": c, "n": i}).encode() for i, c in enumerate(chats)])

    files = root / "files"
    files.mkdir()
    for i, p in enumerate(python_rst_files(8)):
        (files / f"page{i}.rst").write_text(read(p)[:8000])
    (files / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    (files / "old.txt").write_bytes("na\xefve".encode("latin-1"))

    return {
        "root": root,
        "eval": eval_dir,
        "inputs": {"docs": len(lines), "chat": len(chats), "files": 10},
        "sources": [
            {"name": "docs", "path": str(docs_path), "profile": "docs"},
            {"name": "chat", "path": str(chat_path), "profile": "web", "weight": 0.5},
            {"name": "files", "path": str(files), "format": "text", "profile": "docs"},
        ],
    }


@pytest.fixture(scope="session")
def quality_model(tmp_path_factory) -> Path:
    from pintsize.curate.quality import train_quality_model

    pos = [{"text": p["text"][:4000], "label": 1} for p in pydoc_texts(200)[100:200]]
    neg = [{"text": c[:4000], "label": 0} for c in sharegpt_chats(200)[100:200]]
    out = tmp_path_factory.mktemp("qm") / "model"
    train_quality_model(labeled_records=pos + neg, out=out)
    return out


@pytest.fixture(scope="session")
def curate_config(raw_corpus, quality_model) -> DataConfig:
    return DataConfig.model_validate(
        {
            "sources": raw_corpus["sources"],
            "shard_mb": 0.15,
            "decontamination": {"paths": [str(raw_corpus["eval"])]},
            "quality": {"model": str(quality_model), "top_percent": 90},
        }
    )


@pytest.fixture(scope="session")
def curated(tmp_path_factory, curate_config) -> Path:
    from pintsize.curate.pipeline import run_curate

    return run_curate(curate_config, tmp_path_factory.mktemp("out") / "corpus", workers=1)
