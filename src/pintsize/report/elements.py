"""The report's building blocks: where a stage's files are, tables, key figures and inline plots.
Every section module builds on these; none of them imports a section."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

StageDirs = dict[str, Path]


def artifact_file(dirs: StageDirs, stage: str, name: str) -> Path:
    """A file of a stage's artifact (a path that does not exist when the stage is not there)."""
    return dirs.get(stage, Path("/nonexistent")) / name


def png(fig) -> str:
    """A matplotlib figure as an inline <img> (the page stays one self-contained file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f"<img alt='plot' src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'>"


def figure(width: float = 9, height: float = 3.4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, 1, figsize=(width, height))


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    def cell(i: int, v) -> str:
        if isinstance(v, float):
            v = f"{v:,.4g}"
        elif isinstance(v, int):
            v = f"{v:,}"
        cls = " class='num'" if i >= numeric_from else ""
        return f"<td{cls}>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def kpis(items: list[tuple[str, str]]) -> str:
    return "<div class='grid'>" + "".join(
        f"<div class='kpi'><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>" for k, v in items
    ) + "</div>"
