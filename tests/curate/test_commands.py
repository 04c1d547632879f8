"""`pintsize curate` from a recipe: the default local executor on two processes gives the same
corpus as one in-process worker; mistakes are one clear line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pintsize.artifacts import read_manifest
from pintsize.cli import app


def _toml_value(v) -> str:
    return json.dumps(v)  # JSON scalars and arrays of them are valid TOML


def _recipe(path, config) -> None:
    data = config.model_dump(mode="json", exclude_defaults=True)
    lines = ["[run]", 'name = "cli"', "[data]", f"shard_mb = {data['shard_mb']}"]
    for key in ("decontamination", "quality"):
        lines.append(f"[data.{key}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in data[key].items()]
    for source in data["sources"]:
        lines.append("[[data.sources]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in source.items()]
    path.write_text("\n".join(lines) + "\n")


def test_curate_command_with_two_workers_matches(curate_config, curated, tmp_path):
    recipe = tmp_path / "recipe.toml"
    _recipe(recipe, curate_config)
    out = tmp_path / "corpus"
    result = CliRunner().invoke(app, ["curate", str(recipe), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "quarantined" in result.output and "report.html" in result.output
    assert read_manifest(out)["content_hash"] == read_manifest(curated)["content_hash"]


def test_recipe_and_option_errors_are_one_line(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[data]\n[[data.sources]]\nname = "a"\nformat = "jsonl"\n')
    runner = CliRunner()
    result = runner.invoke(app, ["curate", str(recipe)])
    assert result.exit_code != 0 and "`path` is required" in str(result.exception or result.output)
    result = runner.invoke(app, ["curate", str(recipe), "--executor", "spark"])
    assert result.exit_code == 2 and "spark" in result.output


def test_summary_notes_a_source_that_kept_almost_nothing(tmp_path, capsys):
    from pintsize.curate.commands import print_summary

    def counts(docs_in, kept, removed):
        return {"input": docs_in, "kept": kept, "filtered": docs_in - kept, "quarantined": 0, "tokens_in": 10 * docs_in, "output_tokens": 10 * kept}

    stats = {
        "token_unit": "words",
        "sources": {"web": counts(100, 60, {}), "manual": counts(50, 2, {})},
        "steps": {
            "heuristics": {"web": {"removed": {"gopher_quality/short": 40}}, "manual": {"removed": {"gopher_repetition/dup_line_frac": 30, "c4/lorem": 1}}},
            "dedup": {"manual": {"removed": {"duplicate": 17}}},
        },
    }
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    print_summary(tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("note:") == 1
    assert "source 'manual' kept 2 of 50 documents read (most removed by gopher_repetition/dup_line_frac: 30, c4/lorem: 1)" in out
    assert '[[data.sources]] profile = "docs"' in out


def test_summary_says_what_it_counts_and_advises_no_profile_for_what_the_rules_did_not_remove(tmp_path, capsys):
    """A source the quality step removed, or one that could not be read, gets no rule-profile advice
    (issue 28, item 15)."""
    from pintsize.curate.commands import print_summary

    def counts(docs_in, kept, quarantined=0):
        return {"input": docs_in, "kept": kept, "filtered": docs_in - kept - quarantined, "quarantined": quarantined,
                "tokens_in": 10 * docs_in, "output_tokens": 10 * kept}

    stats = {
        "token_unit": "whitespace-separated words",
        "sources": {"docs": counts(300, 220), "readmes": counts(13, 0), "broken": counts(20, 0, quarantined=20)},
        "steps": {
            "read": {"broken": {"removed": {"not_utf8": 20}}},
            "heuristics": {"docs": {"removed": {"gopher_quality/short": 21}}, "readmes": {"removed": {"c4/lorem": 1}}},
            "quality": {"docs": {"removed": {"below_threshold": 59}}, "readmes": {"removed": {"below_threshold": 12}}},
        },
        "quality": {"model": "m", "threshold": 0.5, "top_percent": None, "keep_input_fraction": None, "reached": 291, "kept": 220,
                    "input_documents": 333, "keep_share": 0.756, "heldout": None, "warnings": []},
    }
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    print_summary(tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert "profile" not in out
    assert "source 'readmes' kept 0 of 13 documents read: the quality step removed 12" in out
    assert "source 'broken' kept 0 of 20 documents read: 20 could not be read" in out
    assert ("quality: kept 220 of the 291 documents that reached it (after the heuristic filters and dedup), 75.6%, those scoring "
            "at least the threshold: threshold 0.5; 66.1% of the 333 documents read") in out
    assert "read = kept + removed by a step" in out


def test_curate_on_its_own_uses_the_runs_quality_model_and_never_skips_the_step_silently(tmp_path, monkeypatch):
    """`pintsize curate RECIPE` with [quality_model] and [data.quality] but no model named: the
    run's `quality` stage artifact, said so; none there yet, or no model at all: an error (issue 28, 15b)."""
    from .realdata import pydoc_texts, sharegpt_chats

    monkeypatch.chdir(tmp_path)
    pages, chats = [p["text"][:3000] for p in pydoc_texts(16)], [c[:3000] for c in sharegpt_chats(16)]
    for name, texts in (("pos", pages[:8]), ("neg", chats[:8]), ("mix", pages[8:] + chats[8:])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    source = '[[data.sources]]\nname = "mix"\npath = "mix.jsonl"\nprofile = "prose"\n[data.quality]\nthreshold = 0.5\n'
    recipe = tmp_path / "r.toml"
    recipe.write_text('[run]\nname = "r"\n[quality_model]\npositives = ["pos.jsonl"]\nnegatives = ["neg.jsonl"]\n' + source)
    runner = CliRunner()
    result = runner.invoke(app, ["curate", str(recipe), "--workers", "1"])
    assert result.exit_code != 0 and not (tmp_path / "runs/r/curate").exists()
    assert "runs/r/quality is not there yet" in str(result.exception)
    result = runner.invoke(app, ["quality", "train", "runs/r/quality", "--pos", "pos.jsonl", "--neg", "neg.jsonl"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["curate", str(recipe), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "quality model: runs/r/quality (this run's `quality` stage" in " ".join(result.output.split())
    stats = json.loads((tmp_path / "runs/r/curate/stats.json").read_text())
    assert stats["quality"]["model"] == "runs/r/quality" and "quality" in stats["steps"]
    alone = tmp_path / "alone.toml"  # a cut without a model to make it
    alone.write_text('[run]\nname = "alone"\n' + source)
    result = runner.invoke(app, ["curate", str(alone), "--workers", "1"])
    assert result.exit_code != 0 and "no model is named" in str(result.exception) and not (tmp_path / "runs/alone").exists()
