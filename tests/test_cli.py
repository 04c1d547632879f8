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


def test_ctrl_c_ends_with_a_word_on_how_to_go_on():
    import signal

    code = "\n".join(
        [
            "import signal, sys, time",
            "signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job inherits SIGINT ignored",
            "from pintsize import cli",
            "@cli.app.command('wait')",
            "def wait():",
            "    print('ready', flush=True)",
            "    time.sleep(60)",
            "sys.argv = ['pintsize', 'wait']",
            "cli.main()",
        ]
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted." in err and "Run the same command again" in err and "Traceback" not in err
