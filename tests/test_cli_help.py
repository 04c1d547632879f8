"""`--help` on every command reads as prose: no Typer type tags on flags and repeatable options,
arguments in capitals instead of `{recipe}` braces, help paragraphs that wrap as sentences (not
where the docstring's source line ended), commands in pipeline order; and `artifact lineage`
keeps its status column whole at 80 columns."""

import re

import typer.main
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.cli_help import ORDER, joined

runner = CliRunner()


def _commands():
    """(path, click command) for the app and every command and group under it."""
    stack = [([], typer.main.get_command(app))]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        stack += [(path + [name], sub) for name, sub in getattr(cmd, "commands", {}).items()]


def test_help_has_no_type_tags_on_flags_or_lists_and_no_braces():
    paths = [path for path, _ in _commands()]
    assert len(paths) > 40
    for path in paths:
        out = runner.invoke(app, [*path, "--help"], terminal_width=80).output
        assert not re.search(r"<bool>|<list\[", out), (path, out)
        usage = next(line for line in out.splitlines() if "Usage:" in line)
        assert "{" not in usage and "}" not in usage, (path, usage)
    usage = runner.invoke(app, ["tokenizer", "transfer", "--help"], terminal_width=80).output
    assert "Usage: pintsize tokenizer transfer [OPTIONS] MODEL NEW_TOKENIZER OUT" in usage


def test_help_paragraphs_are_not_broken_where_the_source_lines_ended():
    """Typer keeps a docstring's single line breaks: `curate`'s summary broke after "PII,"."""
    for path, cmd in _commands():
        for paragraph in (cmd.help or "").split("\n\n"):
            assert joined(paragraph) == paragraph, (path, paragraph)
    assert joined("a long\nsentence.\n\n- one\n- two") == "a long sentence.\n\n- one\n- two"


def test_commands_are_listed_in_pipeline_order():
    out = runner.invoke(app, ["--help"], terminal_width=100).output
    listed = re.findall(r"^│ ([a-z]+) {2,}", out, flags=re.M)
    assert listed == [name for name in ORDER if name in listed] and {"curate", "pretrain", "sft", "eval", "serve"} <= set(listed)
    assert listed.index("quality") < listed.index("curate") < listed.index("tokenizer") < listed.index("pack") < listed.index("pretrain")


def test_artifact_lineage_keeps_its_status_column_whole_at_80_columns(tmp_path):
    from pintsize.artifacts import ArtifactWriter

    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "runs" / "demo"
    source = tmp_path / "raw.txt"
    source.write_text("text")
    with ArtifactWriter(deep / "curate", "curate", {}, inputs={"raw": source}) as art:
        (art.dir / "x").write_text("y")
    with ArtifactWriter(deep / "pack", "pack", {}, inputs={"corpus": deep / "curate"}) as art:
        (art.dir / "x").write_text("z")
    out = runner.invoke(app, ["artifact", "lineage", str(deep / "pack")], env={"COLUMNS": "80"}).output
    assert max(len(line) for line in out.splitlines()) <= 80
    assert len(re.findall(r" unchanged$", out, flags=re.M)) == 2, out  # curate and raw.txt, each on one line
