"""`pintsize report RUN`: one self-contained HTML page about a run (plots inlined as PNG).

Each section reads the artifacts it needs and is left out when they do not exist, so a report
can be written at any point of a run.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path

from pintsize.artifacts import MANIFEST, atomic_write_text, stage_name
from pintsize.errors import PintsizeError
from pintsize.report import sections
from pintsize.report.lineage_section import lineage_section
from pintsize.report.adapt_section import adaptation

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:28px;margin:8px 0 4px} h2{font-size:20px;margin:34px 0 10px;border-bottom:2px solid #e3e6ec;padding-bottom:6px}
.sub{color:#5b6475;margin-bottom:18px}
.card{background:#fff;border:1px solid #e3e6ec;border-radius:10px;padding:16px 18px;margin:12px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.kpi{background:#fff;border:1px solid #e3e6ec;border-radius:10px;padding:12px 14px}
.kpi b{display:block;font-size:22px} .kpi span{color:#5b6475;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:14px} th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef0f4}
th{background:#fafbfc;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%} pre{white-space:pre-wrap;background:#f3f4f7;border-radius:6px;padding:10px;font-size:13px;margin:6px 0}
code{font-size:13px} .ok{color:#17803d} .bad{color:#b42318} .muted{color:#5b6475}
details summary{cursor:pointer;color:#2a5bd7} details table{margin-top:6px;font-size:12px}
"""


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PintsizeError(f"{run_dir}: no such run directory")
    if not any(run_dir.glob(f"*/{MANIFEST}")):
        raise PintsizeError(f"{run_dir}: no finished stage in it (no */{MANIFEST}); `pintsize run RECIPE` makes one")
    out = Path(out) if out else run_dir / "report.html"
    dirs = stage_dirs(run_dir)
    parts = [
        sections.summary(dirs),
        sections.data_funnel(dirs),
        sections.tokenizer(dirs),
        sections.training(dirs),
        sections.evaluation(dirs),
        adaptation(dirs),
        lineage_section(dirs, run_dir),
    ]
    body = "\n".join(p for p in parts if p)
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>pintsize run {html.escape(run_dir.name)}</title>"
        f"<style>{CSS}</style></head><body><main><h1>Run <code>{html.escape(run_dir.name)}</code></h1>"
        f"<div class='sub'>pintsize report · written {when} · {html.escape(str(run_dir.resolve()))}</div>{body}</main></body></html>"
    )
    atomic_write_text(out, page)
    return out


def stage_dirs(run_dir: Path) -> dict[str, Path]:
    """Each stage's artifact: the run's own, else the one the run's artifacts were made from,
    found through their manifests' inputs (a run that reuses another's tokenizer and shards, as
    the 16K recipe does, reports that run's data and tokenizer)."""
    found: dict[str, Path] = {}
    queue = sorted(p for p in run_dir.iterdir() if (p / MANIFEST).is_file())
    seen: set[Path] = set()
    while queue:
        artifact = queue.pop(0)
        if artifact.resolve() in seen:
            continue
        seen.add(artifact.resolve())
        m = json.loads((artifact / MANIFEST).read_text())
        found.setdefault(stage_name(m), artifact)
        for value in m.get("inputs", {}).values():
            path = Path(value["path"])  # an artifact, or a file or folder inside one (a model under pretrain/)
            queue += [p for p in (path, *path.parents) if (p / MANIFEST).is_file()][:1]
    return found
