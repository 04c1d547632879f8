"""Degenerate text, the stored operating point, keep_top_fraction, and the quoted-glob --neg."""

from __future__ import annotations

import json
import random
import string

import numpy as np
import pytest
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.curate.config import QualityConfig
from pintsize.curate.quality import QualityModel, train_quality_model

from .realdata import pydoc_texts, sharegpt_chats

CHARS = 3000


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> QualityModel:
    d = tmp_path_factory.mktemp("qsel")
    pos = d / "pos.jsonl"
    neg = d / "neg.jsonl"
    pos.write_text("".join(json.dumps({"text": p["text"][:CHARS]}) + "\n" for p in pydoc_texts(120)))
    neg.write_text("".join(json.dumps({"text": c[:CHARS]}) + "\n" for c in sharegpt_chats(120)))
    return train_quality_model([pos], [neg], out=d / "m")


def _random_letters(n_words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(n_words))


def test_degenerate_text_never_scores_as_textbook_like(model):
    rng = random.Random(1)
    degenerate = [
        "", "   \n\t ", "the", "Python module", "a b c d e",
        _random_letters(300, 0), _random_letters(40, 1),
        "".join(rng.choices(string.printable, k=3000)),  # random characters
        "#$%^&*()" * 200,
    ]
    s = model.score(degenerate)
    assert (s == 0.0).all(), dict(zip(range(len(s)), s))
    # ...while the real documentation it separates still scores high: the gate does not bite them.
    docs = [p["text"][:CHARS] for p in pydoc_texts(200)[150:]]
    assert np.median(model.score(docs)) > 0.8


def test_the_operating_point_is_measured_on_held_out_labels(model):
    op = model.operating_point(0.5)
    y, s = model.heldout_labels.astype(bool), model.heldout_scores
    assert op["heldout_n"] == len(y) == 48 and op["heldout_positives"] == 24  # 20% of 240, stratified
    assert op["keep_share"] == round(float((s >= 0.5).mean()), 4)
    assert op["precision"] == round(float((y & (s >= 0.5)).sum() / (s >= 0.5).sum()), 4)
    # Keeping everything has the base rate as precision, and full recall.
    everything = model.operating_point(0.0)
    assert everything["keep_share"] == 1.0 and everything["precision"] == 0.5 and everything["recall"] == 1.0


def test_saved_model_keeps_its_held_out_scores(model, tmp_path):
    loaded = QualityModel.load(model.save(tmp_path / "m"))
    assert loaded.operating_point(0.7) == model.operating_point(0.7)


def test_keep_top_fraction_is_top_percent():
    assert QualityConfig(model="m", keep_top_fraction=0.1).top_percent == pytest.approx(10.0)
    assert QualityConfig(model="m", keep_top_fraction=0.1).effective_threshold is None
    with pytest.raises(ValueError, match="only one"):
        QualityConfig(model="m", keep_top_fraction=0.1, threshold=0.5)


def test_cli_neg_takes_a_quoted_glob(tmp_path):
    """`--neg '/dir/*/copyright'` trains on every match (it was a usage error, issue 19 item 20)."""
    for i, p in enumerate(pydoc_texts(12)):
        (tmp_path / "pos").mkdir(exist_ok=True)
        (tmp_path / "pos" / f"{i}.txt").write_text(p["text"][:CHARS])
    for i, c in enumerate(sharegpt_chats(12)):
        (tmp_path / f"pkg{i}").mkdir()
        (tmp_path / f"pkg{i}" / "copyright").write_text(c[:CHARS])
    out = tmp_path / "m"
    result = CliRunner().invoke(app, ["quality", "train", str(out), "--pos", str(tmp_path / "pos"), "--neg", str(tmp_path / "*" / "copyright")])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "quality_model.json").read_text())
    assert meta["examples"]["negative_docs"] == 12 and meta["examples"]["positive_docs"] == 12
    result = CliRunner().invoke(app, ["quality", "train", str(out), "--neg", str(tmp_path / "nothing*")])
    assert result.exit_code != 0 and "--neg: nothing matches" in str(result.exception or result.output)


def test_the_funnel_states_what_the_operating_point_means():
    from pintsize.curate.commands import quality_line

    q = {"threshold": 0.71, "keep_share": 0.23, "heldout": {"heldout_n": 96, "keep_share": 0.4, "precision": 0.97, "recall": 0.8},
         "reached": 1000, "kept": 230, "input_documents": 2000, "top_percent": 23.0, "heldout_source": "labels of corpus X"}
    assert quality_line(q) == (
        "quality: kept 230 of the 1,000 documents that reached it (after the heuristic filters and dedup), 23.0%, the best-scoring "
        "23% of them: threshold 0.71; 11.5% of the 2,000 documents read; on the model's 96 held-out labels (labels of corpus X) "
        "this threshold keeps 40%, precision 0.97, recall 0.80"
    )
    assert "no held-out labels stored" in quality_line({"threshold": 0.5, "keep_share": 1.0, "heldout": None})
