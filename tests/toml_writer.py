"""Recipes as TOML files for the tests that drive the CLI: tomllib only reads, and the few value
types a recipe needs (strings, numbers, booleans, arrays) are JSON values that TOML reads the same."""

from __future__ import annotations

import json
from pathlib import Path


def _value(v) -> str:
    return str(v).lower() if isinstance(v, bool) else json.dumps(v)


def toml_text(sections: dict) -> str:
    """Tables (nested dicts become [a.b] tables) and arrays of tables (a list of dicts: [[a]])."""
    lines: list[str] = []

    def table(name: str, d: dict) -> None:
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {_value(v)}" for k, v in d.items() if not isinstance(v, dict))
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for name, section in sections.items():
        if isinstance(section, list):
            for item in section:
                lines.append(f"[[{name}]]")
                lines.extend(f"{k} = {_value(v)}" for k, v in item.items())
        else:
            table(name, section)
    return "\n".join(lines) + "\n"


def write_toml(path: Path, sections: dict) -> Path:
    path.write_text(toml_text(sections))
    return path
