"""The textbook-likeness classifier: expository documentation vs chat, held out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pintsize.artifacts import ArtifactWriter
from pintsize.cli import app
from pintsize.curate.quality import QualityModel, read_label_file, train_quality_model
from pintsize.errors import DataError

from .realdata import pydoc_texts, python_rst_files, read, sharegpt_chats

CHARS = 4000  # the opening of each document: enough to judge, quick to vectorize


def _write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("quality")
    rst = d / "rst"
    rst.mkdir()
    for i, p in enumerate(python_rst_files(150)):
        (rst / f"{i:03d}.rst").write_text(read(p)[:CHARS])
    chats = list(sharegpt_chats(600))
    return {
        "pydoc": _write_jsonl(d / "pydoc.jsonl", [p["text"][:CHARS] for p in pydoc_texts(150)]),
        "rst": rst,  # a directory of text files: one document each
        "chats": _write_jsonl(d / "chats.jsonl", [c[:CHARS] for c in chats[:300]]),
        "heldout_chats": [c[:CHARS] for c in chats[300:400]],
        "dir": d,
    }


def test_separates_held_out_expository_docs_from_chat(examples, tmp_path):
    model = train_quality_model([examples["pydoc"], examples["rst"]], [examples["chats"]], out=tmp_path / "m")
    meta = model.metadata
    assert meta["examples"]["positive"] >= 280 and meta["examples"]["negative"] >= 280
    assert meta["heldout"]["auc"] >= 0.95 and meta["heldout"]["accuracy"] >= 0.9
    # Documents it never saw: later stdlib pages and later conversations.
    docs = [p["text"][:CHARS] for p in pydoc_texts(260)[200:]]
    s_docs, s_chats = model.score(docs), model.score(examples["heldout_chats"])
    assert ((s_docs >= 0) & (s_docs <= 1)).all()
    auc = (s_docs[:, None] > s_chats[None, :]).mean()
    assert auc >= 0.95, auc
    loaded = QualityModel.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.score(docs), s_docs, rtol=1e-5)  # float32 weights on disk
    assert loaded.metadata["heldout"] == meta["heldout"]


def test_labeled_records_from_the_review_app(examples, tmp_path):
    docs = [p["text"][:CHARS] for p in pydoc_texts(40)]
    chats = list(sharegpt_chats(40))
    records = [
        {"text": t, "label": label, "id": f"d{i}", "source": "s", "educational_value": 4 * label, "reviewer": "ann", "note": ""}
        for i, (t, label) in enumerate([(d, 1) for d in docs] + [(c[:CHARS], 0) for c in chats])
    ]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in records))
    model = QualityModel.train(labeled_records=read_label_file(labels))
    assert model.metadata["examples"]["labeled_records"] == 80 and model.metadata["heldout"]["auc"] >= 0.9
    loaded = QualityModel.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.score(docs[:5]), model.score(docs[:5]), rtol=1e-5)


def test_a_reviewers_label_overrides_the_seed_files(tmp_path):
    docs = [p["text"][:CHARS] for p in pydoc_texts(30)]
    chats = [c[:CHARS] for c in sharegpt_chats(30)]
    assert len(set(docs + chats)) == 60  # distinct texts, so the counts below are exact
    pos, neg = _write_jsonl(tmp_path / "pos.jsonl", docs), _write_jsonl(tmp_path / "neg.jsonl", chats)
    # A reviewer disagrees with the seed files on 6 documentation pages and 2 chats, agrees on
    # 3 more pages, and labels 4 documents no seed file has.
    extra = [p["text"][:CHARS] for p in pydoc_texts(34)[30:]]
    reviewed = (
        [{"text": t, "label": 0} for t in docs[:6]] + [{"text": t, "label": 1} for t in chats[:2]]
        + [{"text": t, "label": 1} for t in docs[6:9]] + [{"text": t, "label": 1} for t in extra]
    )
    examples = QualityModel.train([pos], [neg], reviewed).metadata["examples"]
    assert examples["seed_labels_overridden"] == 8
    assert examples["positive"] == 30 - 6 + 2 + 4 and examples["negative"] == 30 + 6 - 2
    assert examples["labeled_records"] == 15 and examples["positive_docs"] == examples["negative_docs"] == 30


def test_bad_labels_name_the_file_and_line(tmp_path):
    f = tmp_path / "labels.jsonl"
    f.write_text('{"text": "ok", "label": 1}\n{"text": "hm", "label": "yes"}\n')
    with pytest.raises(DataError, match=r"labels.jsonl:2: field `label` must be 1 or 0"):
        read_label_file(f)
    with pytest.raises(DataError, match="at least 5 distinct positive"):
        train_quality_model(labeled_records=[{"text": "a", "label": 1}, {"text": "b", "label": 0}])
    with pytest.raises(DataError, match="not a quality model"):
        QualityModel.load(tmp_path)


def test_cli_train_then_score_a_corpus(examples, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    runner = CliRunner()
    model = tmp_path / "model"
    args = ["quality", "train", str(model), "--pos", str(examples["pydoc"]), "--neg", str(examples["chats"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "held-out AUC" in result.output
    texts = [p["text"][:CHARS] for p in pydoc_texts(230)[210:]] + [c[:CHARS] for c in examples["heldout_chats"][:20]]
    table = pa.table({"id": [str(i) for i in range(40)], "text": texts, "source": ["x"] * 40, "meta": ["{}"] * 40})
    corpus = tmp_path / "corpus"
    with ArtifactWriter(corpus, "curate", {}) as art:
        (art.dir / "data").mkdir()
        pq.write_table(table, art.dir / "data" / "part-00000.parquet")
    result = runner.invoke(app, ["quality", "score", str(model), str(corpus), str(tmp_path / "scored")])
    assert result.exit_code == 0, result.output
    scored = pq.read_table(tmp_path / "scored" / "data" / "part-00000.parquet")
    assert scored.column_names == ["id", "text", "source", "meta", "quality_score"]
    s = np.array(scored.column("quality_score").to_pylist())
    assert s[:20].min() > s[20:].max() - 0.5 and s[:20].mean() > 0.5 > s[20:].mean()
