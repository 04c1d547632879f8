"""The CLI: --version, --help everywhere, model info, and clear one-line errors instead of tracebacks."""

import subprocess
import sys

from typer.testing import CliRunner

from pintsize import __version__
from pintsize.cli import app

runner = CliRunner()


def test_version_and_model_info():
    assert __version__ in runner.invoke(app, ["--version"]).output
    out = runner.invoke(app, ["model", "info", "1.5-pints-2k"], terminal_width=200).output
    assert "1,565,886,464" in out


def _commands(group, prefix=()):
    import typer.main

    click_app = typer.main.get_command(group)
    stack = [(click_app, list(prefix))]
    while stack:
        cmd, path = stack.pop()
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            stack.append((sub, path + [name]))


def test_every_command_has_help():
    paths = list(_commands(app))
    assert len(paths) > 5
    for path in paths:
        result = runner.invoke(app, path + ["--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_errors_are_one_clear_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "nope"\n')
    proc = subprocess.run([sys.executable, "-m", "pintsize", "recipe", "check", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown model 'nope'" in proc.stderr and "Traceback" not in proc.stderr
