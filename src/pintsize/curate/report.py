"""report.html: a self-contained page (inline SVG, no scripts or links) with the funnel plot, the
per-source accounting, every removal rule with its counts and examples, PII, decontamination,
dedup and quality summaries. It is a function of stats.json only, so reruns produce the same bytes."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

from pintsize.artifacts import atomic_write_text

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}pre{white-space:pre-wrap;background:#f7f7f7;padding:6px;
font-size:12px;max-height:14em;overflow:auto}details{margin:.3em 0}.note{color:#666}
"""


def _funnel_svg(stats: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(stats["steps"])
    sources = list(stats["sources"])
    labels = ["input"] + steps
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(labels) + 1.4))
    for ax, unit in zip(axes, ("docs", "tokens")):
        left = [0.0] * len(labels)
        for src in sources:
            values = [stats["steps"]["read"].get(src, {}).get(f"{unit}_in", 0)] + [
                stats["steps"][s].get(src, {}).get(f"{unit}_out", 0) for s in steps
            ]
            ax.barh(labels, values, left=left, label=src)
            left = [a + b for a, b in zip(left, values)]
        ax.invert_yaxis()
        ax.set_title(f"{unit} left after each step" if unit == "docs" else f"{unit} ({stats['token_unit']})")
        ax.grid(axis="x", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 6), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    buf = io.StringIO()
    matplotlib.rcParams["svg.hashsalt"] = "pintsize"  # stable element ids: same stats, same bytes
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _table(header: list[str], rows: list[list], left: int = 1) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(str(h))}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{html.escape(_fmt(v))}</td>' for i, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _fmt(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def render(stats: dict, title: str) -> str:
    parts = [f"<h1>{html.escape(title)}</h1>", _funnel_svg(stats), "<h2>Sources</h2>"]
    keys = ["input", "kept", "filtered", "quarantined", "tokens_in", "tokens_out", "output_docs", "output_tokens"]
    parts.append(_table(["source"] + keys, [[s] + [c.get(k, 0) for k in keys] for s, c in stats["sources"].items()]))
    parts.append(f'<p class="note">input = kept + filtered + quarantined; tokens are {stats["token_unit"]}; '
                 "output counts include mixture repeats.</p>")
    parts.append("<h2>Steps</h2>")
    rows = [
        [step, src, c["docs_in"], c["docs_out"], c["tokens_in"], c["tokens_out"]]
        for step, by_source in stats["steps"].items()
        for src, c in by_source.items()
    ]
    parts.append(_table(["step", "source", "docs in", "docs out", "tokens in", "tokens out"], rows, left=2))
    parts.append("<h2>Why documents were removed</h2>")
    for step, by_source in stats["steps"].items():
        totals: dict[str, int] = {}
        for c in by_source.values():
            for reason, n in c["removed"].items():
                totals[reason] = totals.get(reason, 0) + n
        if not totals:
            continue
        parts.append(f"<h3>{html.escape(step)}</h3>")
        for reason, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
            examples = stats["examples"].get(step, {}).get(reason, [])
            shown = "".join(
                f"<p>{html.escape(e['id'])}</p><pre>{html.escape(e['excerpt'])}</pre>" for e in examples
            )
            parts.append(f"<details><summary>{html.escape(reason)}: {n:,}</summary>{shown}</details>")
    for key, heading in (("pii", "PII masked"), ("decontamination", "Decontamination"), ("dedup", "Dedup"), ("quality", "Quality")):
        if stats.get(key):
            parts.append(f"<h2>{heading}</h2><pre>{html.escape(json.dumps(stats[key], indent=2))}</pre>")
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_report(stats: dict, path: Path, title: str) -> Path:
    return atomic_write_text(path, render(stats, title))
