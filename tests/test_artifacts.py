"""Artifacts: atomic, resumable partial directories, manifests that record lineage."""

import json

import pytest

from pintsize.artifacts import ArtifactWriter, atomic_write_json, hash_path, is_up_to_date, lineage, read_manifest


def make(tmp_path, name, inputs, content="x", config=None):
    with ArtifactWriter(tmp_path / name, name, config or {"k": 1}, inputs=inputs) as art:
        (art.dir / "out.txt").write_text(content)
        art.stats["n"] = 1
    return tmp_path / name


def test_manifest_records_stage_config_inputs_code_and_stats(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("hello")
    out = make(tmp_path, "curate", {"raw": raw})
    m = read_manifest(out)
    assert m["stage"] == "curate" and m["config"] == {"k": 1} and m["stats"] == {"n": 1}
    assert m["inputs"]["raw"]["hash"] == hash_path(raw)
    assert m["code"]["pintsize"] and m["seconds"] >= 0
    assert not (tmp_path / "curate.partial").exists()


def test_failure_leaves_no_final_artifact_and_keeps_partial_for_resume(tmp_path):
    with pytest.raises(RuntimeError):
        with ArtifactWriter(tmp_path / "pack", "pack", {"a": 1}) as art:
            (art.dir / "shard-0").write_text("done")
            raise RuntimeError("killed")
    assert not (tmp_path / "pack").exists()
    with ArtifactWriter(tmp_path / "pack", "pack", {"a": 1}) as art:
        assert art.resumed and (art.dir / "shard-0").read_text() == "done"
    # a different config must not resume someone else's partial work
    with pytest.raises(RuntimeError):
        with ArtifactWriter(tmp_path / "p2", "pack", {"a": 1}) as art:
            (art.dir / "shard-0").write_text("old")
            raise RuntimeError
    with ArtifactWriter(tmp_path / "p2", "pack", {"a": 2}) as art:
        assert not art.resumed and not (art.dir / "shard-0").exists()


def test_a_second_writer_of_the_same_artifact_is_refused_while_the_first_works(tmp_path):
    """Two `pintsize` processes on one recipe would train into the same partial directory."""
    import os

    from pintsize.errors import PintsizeError

    with ArtifactWriter(tmp_path / "pretrain", "pretrain", {"a": 1}) as first:
        with pytest.raises(PintsizeError, match=rf"pretrain: another process \(pid {os.getpid()}\) is writing this artifact"):
            ArtifactWriter(tmp_path / "pretrain", "pretrain", {"a": 1}).__enter__()
        (first.dir / "w").write_text("1")
    with pytest.raises(RuntimeError):  # a failed writer lets go too
        with ArtifactWriter(tmp_path / "pretrain", "pretrain", {"a": 2}):
            raise RuntimeError
    with ArtifactWriter(tmp_path / "pretrain", "pretrain", {"a": 2}) as again:
        (again.dir / "w").write_text("2")
    assert (tmp_path / "pretrain" / "w").read_text() == "2"


def test_up_to_date_and_lineage_follow_inputs(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("hello")
    a = make(tmp_path, "a", {"raw": raw})
    b = make(tmp_path, "b", {"a": a})
    assert is_up_to_date(b, "b", {"k": 1}, {"a": a})
    assert not is_up_to_date(b, "b", {"k": 2}, {"a": a})
    nodes = lineage(b)
    assert [n["stage"] for n in nodes] == ["b", "a", None] and all(n.get("unchanged", True) for n in nodes)
    raw.write_text("changed")
    make(tmp_path, "a", {"raw": raw}, content="y")  # a is rebuilt with different content
    assert not is_up_to_date(b, "b", {"k": 1}, {"a": a})
    # b used an older a; the new a was built from the current raw file
    assert [n.get("unchanged") for n in lineage(b)] == [None, False, True]


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "f.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"b": 2})
    assert json.loads(p.read_text()) == {"b": 2}
    assert [x.name for x in tmp_path.iterdir()] == ["f.json"]


def test_lineage_and_report_name_a_missing_or_empty_path(tmp_path):
    from pintsize.errors import PintsizeError
    from pintsize.report.html import write_report

    with pytest.raises(PintsizeError, match=r"missing: no such file or directory"):
        lineage(tmp_path / "missing")
    with pytest.raises(PintsizeError, match=r"missing: no such run directory"):
        write_report(tmp_path / "missing")
    with pytest.raises(PintsizeError, match=r"no finished stage in it .*pintsize run RECIPE"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()
