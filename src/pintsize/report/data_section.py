"""The report's data section: the curation funnel, per-source counts and why documents were removed,
from the corpus artifact's stats.json (its own report.html has every example)."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from pintsize.report.elements import figure, png, table


def funnel_plot(steps: dict[str, dict[str, dict]]) -> str:
    """Documents left after each step, stacked by source."""
    names = list(steps)
    sources = sorted({s for per_source in steps.values() for s in per_source})
    fig, ax = figure(height=3.2)
    bottom = [0] * len(names)
    for source in sources:
        counts = [steps[n].get(source, {}).get("docs_out", 0) for n in names]
        ax.bar(names, counts, bottom=bottom, label=source)
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_ylabel("documents left")
    ax.set_title("curation funnel")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=20)
    ax.grid(axis="y", alpha=0.3)
    return png(fig)


def render_curation(stats: dict, corpus_dir: Path) -> str:
    sources = stats.get("sources", {})
    rows = [
        [name, s["input"], s["kept"], s["filtered"], s["quarantined"], s["tokens_in"], s["tokens_out"]]
        for name, s in sorted(sources.items())
    ]
    unit = stats.get("token_unit", "tokens")
    out = ["<h2>Data</h2><div class='card'>"]
    if stats.get("steps"):
        out.append(funnel_plot(stats["steps"]))
    out.append(
        table(["source", "documents in", "kept", "filtered", "quarantined", "tokens in", "tokens out"], rows)
        + f"<p class='muted'>tokens here are {html.escape(unit)}; input = kept + filtered + quarantined.</p>"
    )
    reasons: Counter[tuple[str, str]] = Counter()
    for step, per_source in stats.get("steps", {}).items():
        for s in per_source.values():
            for reason, n in s.get("removed", {}).items():
                reasons[(step, reason)] += n
    if reasons:
        top = [[step, reason, n] for (step, reason), n in reasons.most_common(12)]
        out.append("<h3>Why documents were removed (top rules)</h3>" + table(["step", "rule", "documents"], top, numeric_from=2))
    if (corpus_dir / "report.html").is_file():
        out.append(f"<p><a href='{html.escape(str((corpus_dir / 'report.html').resolve()))}'>Curation report</a> (examples of every rule).</p>")
    return "".join(out) + "</div>"
