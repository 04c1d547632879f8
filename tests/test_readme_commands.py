"""The README's test command is what CI runs, and it works after nothing but a checkout: it once
read `.venv/bin/python -m pytest -q` alone, which fails with "No module named pytest" after the
README's own set-up line (only `install.sh --test` installs pytest)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _command(line: str) -> str:
    return line.split("#", 1)[0].strip()


def test_the_readmes_test_command_is_the_one_ci_runs():
    readme = ROOT.joinpath("README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    test_lines = {_command(line) for block in blocks for line in block.splitlines() if "pytest" in line}
    ci_lines = [_command(line) for line in ROOT.joinpath(".ci", "run").read_text().splitlines() if "pytest" in _command(line)]
    assert len(ci_lines) == 1 and test_lines == set(ci_lines), (test_lines, ci_lines)
    # self-sufficient: the line installs the test dependencies before it runs them
    install, _, tests = ci_lines[0].partition(" && ")
    assert install == "bash install.sh --test" and tests.startswith(".venv/bin/python -m pytest")
    extras = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("pytest") for dep in extras["test"]) and 'extras="all,test"' in ROOT.joinpath("install.sh").read_text()
