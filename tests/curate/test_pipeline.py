"""run_curate end to end on real text: accounting, rejects, stats, report, resume, executors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pintsize.artifacts import read_manifest
from pintsize.curate import shard_worker
from pintsize.curate.pipeline import run_curate
from pintsize.curate.stats import EXAMPLES_PER_RULE


def _table(out: Path, sub: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in sorted((out / sub).glob("part-*.parquet"))])


def test_every_input_is_kept_filtered_or_quarantined(curated, raw_corpus):
    stats = json.loads((curated / "stats.json").read_text())
    data, rejects = _table(curated, "data"), _table(curated, "rejects")
    for name, n in raw_corpus["inputs"].items():
        s = stats["sources"][name]
        assert s["input"] == n == s["kept"] + s["filtered"] + s["quarantined"]
        assert data.column("source").to_pylist().count(name) == s["kept"]
        assert rejects.column("source").to_pylist().count(name) == s["filtered"] + s["quarantined"]
        assert s["kept"] > 0 and s["filtered"] + s["quarantined"] > 0
    ids = data.column("id").to_pylist() + rejects.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == sum(raw_corpus["inputs"].values())


def test_rejects_say_which_step_and_rule(curated):
    rejects = _table(curated, "rejects").to_pylist()
    by_id = {r["id"]: r for r in rejects}
    assert by_id["docs/docs.jsonl:11"]["reason"] == "malformed_json"
    assert by_id["docs/docs.jsonl:12"]["reason"] == "invalid_utf8"
    assert by_id["docs/docs.jsonl:13"]["reason"] == "missing_text_field"
    assert by_id["docs/docs.jsonl:14"]["reason"] == "empty"
    assert by_id["files/figure.png"]["reason"] == "binary"
    assert by_id["files/old.txt"]["reason"] == "invalid_utf8"
    steps = {(r["step"], r["reason"]) for r in rejects}
    assert ("dedup_exact", "duplicate") in steps
    assert ("decontamination", "contaminated:bench") in steps
    assert ("mixture", "subsample") in steps
    assert ("quality", "below_threshold") in steps
    assert any(s == "heuristics" for s, _ in steps)
    near = [r for r in rejects if r["step"] == "dedup_near"]
    assert near and all(json.loads(r["meta"])["near_duplicate_of"].startswith("docs/") for r in near)
    exact = next(r for r in rejects if r["reason"] == "duplicate")
    assert json.loads(exact["meta"])["duplicate_of"] == "docs/docs.jsonl:1"  # the first copy is kept


def test_output_columns_pii_and_scores(curated):
    data = _table(curated, "data")
    assert data.column_names == ["id", "text", "source", "meta", "quality_score"]
    text = "\n".join(data.column("text").to_pylist())
    assert "ops@example.net" not in text and "555-0187" not in text
    stats = json.loads((curated / "stats.json").read_text())
    assert stats["pii"]["docs"] == {"email": 1, "phone": 1}
    assert stats["decontamination"]["sets"]["bench"]["docs"] == 1
    assert stats["quality"]["top_percent"] == 90
    scores = data.column("quality_score").to_numpy()
    assert ((scores >= stats["quality"]["threshold"]) & (scores <= 1)).all()


def test_stats_funnel_and_report(curated):
    stats = json.loads((curated / "stats.json").read_text())
    assert list(stats["steps"]) == [
        "read", "normalize", "language", "heuristics", "pii", "decontamination",
        "dedup_exact", "dedup_near", "quality", "mixture",
    ]
    for step, by_source in stats["steps"].items():
        for c in by_source.values():
            assert c["docs_in"] == c["docs_out"] + sum(c["removed"].values())
    for by_reason in stats["examples"].values():
        for examples in by_reason.values():
            assert 1 <= len(examples) <= EXAMPLES_PER_RULE and all(e["id"] for e in examples)
    html = (curated / "report.html").read_text()
    assert "<svg" in html and "<script" not in html and 'src="http' not in html
    assert "malformed_json" in html and "dedup_near" in html
    manifest = read_manifest(curated)
    assert manifest["stage"] == "curate" and manifest["stats"]["sources"] == stats["sources"]
    assert not (curated / "work").exists() and not (curated / "logs").exists()


def test_killed_run_resumes_without_redoing_shards(curate_config, curated, tmp_path, monkeypatch):
    real = shard_worker.process_shard
    done: list[int] = []

    def crash_on_third(spec, *args):
        if len(done) == 2:
            raise RuntimeError("killed")
        done.append(spec.index)
        return real(spec, *args)

    monkeypatch.setattr(shard_worker, "process_shard", crash_on_third)
    out = tmp_path / "corpus"
    with pytest.raises(RuntimeError, match="killed"):
        run_curate(curate_config, out, workers=1)
    assert not out.exists() and len(list((tmp_path / "corpus.partial" / "work").glob("shard-*"))) == 2

    rerun: list[int] = []

    def record(spec, *args):
        rerun.append(spec.index)
        return real(spec, *args)

    monkeypatch.setattr(shard_worker, "process_shard", record)
    run_curate(curate_config, out, workers=1)
    assert not set(rerun) & set(done) and rerun  # finished shards were not touched again
    assert read_manifest(out)["content_hash"] == read_manifest(curated)["content_hash"]


# slow (~20-30 s on 2 cores): it starts a local Ray instance (~5 s), and datatrove's Ray
# executor starts one actor per shard, each importing spaCy and datatrove afresh.
@pytest.mark.slow
def test_ray_executor_gives_the_same_output(curate_config, curated, tmp_path):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = run_curate(curate_config, tmp_path / "corpus", executor="ray", workers=2)
    finally:
        ray.shutdown()
    assert read_manifest(out)["content_hash"] == read_manifest(curated)["content_hash"]
