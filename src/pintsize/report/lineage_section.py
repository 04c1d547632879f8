"""The report's lineage table: each stage's artifact, what it was made from, by which code, and
whether its inputs have changed since.

A stage with many inputs (the quality model of the demo has 800 seed files) is summarized in one
line: how many, of which kinds, their total size and one combined hash, with the full list in a
<details> element that a reader opens when they need it.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections import Counter
from pathlib import Path

from pintsize.artifacts import MANIFEST, lineage, stage_seconds

INLINE_INPUTS = 3  # up to this many inputs are listed in the row itself


def combined_hash(inputs: dict[str, dict]) -> str:
    """One hash over all of a stage's inputs: sha256 of their sorted `name NUL hash` lines."""
    lines = sorted(f"{name}\0{ref['hash']}\n" for name, ref in inputs.items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def input_size(path: str | os.PathLike) -> int | None:
    """The bytes of an input as it is now (a file, or every file under a folder); None if it is gone."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return None


def _size_text(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _kinds(names) -> str:
    """'positive 413, negative 413' from names like 'positive:0' (the part before the colon)."""
    counts = Counter(name.split(":", 1)[0] for name in names)
    return ", ".join(f"{html.escape(kind)} {n}" for kind, n in counts.items())


def _inputs_cell(inputs: dict[str, dict]) -> str:
    if not inputs:
        return "—"
    sizes = {name: input_size(ref["path"]) for name, ref in inputs.items()}
    known = [s for s in sizes.values() if s is not None]
    size = _size_text(sum(known)) + (f" (+{len(sizes) - len(known)} missing)" if len(known) < len(sizes) else "")
    if len(inputs) <= INLINE_INPUTS:
        listed = ", ".join(f"{html.escape(k)} <code>{html.escape(v['hash'][:10])}</code>" for k, v in inputs.items())
        return f"{listed} · {size}"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td><code>{html.escape(ref['hash'][:16])}</code></td>"
        f"<td class='num'>{'missing' if sizes[name] is None else _size_text(sizes[name])}</td>"
        f"<td><code>{html.escape(ref['path'])}</code></td></tr>"
        for name, ref in inputs.items()
    )
    return (
        f"{len(inputs)} inputs ({_kinds(inputs)}) · {size} · combined <code>{combined_hash(inputs)[:12]}</code>"
        f"<details><summary>all {len(inputs)} inputs</summary><table><tr><th>input</th><th>content hash</th>"
        f"<th>size</th><th>path</th></tr>{rows}</table></details>"
    )


def lineage_section(dirs: dict[str, Path], run_dir: Path) -> str:
    from pintsize.pipeline.stages import STAGES

    order = [s.name for s in STAGES]
    rows = []
    for stage, stage_dir in sorted(dirs.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        m = json.loads((stage_dir / MANIFEST).read_text())
        name = html.escape(stage) + (f" <span class='muted'>({html.escape(m['stage'])})</span>" if m["stage"] != stage else "")
        if run_dir.resolve() not in stage_dir.resolve().parents:
            name += f" <span class='muted'>(another run's: <code>{html.escape(str(stage_dir))}</code>)</span>"
        code = m.get("code", {})
        rev = code.get("git_commit", "")[:10] + (" (dirty)" if code.get("git_dirty") else "")
        stale = [n for n in lineage(stage_dir) if n.get("unchanged") is False]
        state = "<span class='bad'>inputs changed since</span>" if stale else "<span class='ok'>current</span>"
        rows.append(
            f"<tr><td>{name}</td><td><code>{m['content_hash'][:12]}</code></td><td>{_inputs_cell(m.get('inputs', {}))}</td>"
            f"<td>{html.escape(code.get('pintsize', ''))} {html.escape(rev)}</td><td class='num'>{stage_seconds(m) or 0:.1f}s</td>"
            f"<td>{html.escape(m.get('finished', ''))}</td><td>{state}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h2>Lineage</h2><div class='card'><table><tr><th>stage</th><th>content</th><th>inputs (content hash)</th>"
        "<th>code</th><th>time</th><th>finished</th><th>status</th></tr>" + "".join(rows) + "</table></div>"
    )
