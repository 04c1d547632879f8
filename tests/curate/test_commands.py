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
    assert "source 'manual' kept 2 of 50 documents (most removed by gopher_repetition/dup_line_frac: 30, duplicate: 17, c4/lorem: 1)" in out
    assert '[[data.sources]] profile = "docs"' in out
