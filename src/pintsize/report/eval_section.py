"""The report's evaluation section, from the eval artifact's results.json."""

from __future__ import annotations

import html

from pintsize.report.elements import kpis, table


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def render_eval(results: dict) -> str:
    out = ["<h2>Evaluation</h2><div class='card'>"]
    ppl = results.get("perplexity")
    if ppl:
        out.append(
            kpis(
                [
                    ("validation loss (nats/token)", _fmt(ppl.get("loss"))),
                    ("perplexity", _fmt(ppl.get("perplexity"))),
                    ("bits per byte", _fmt(ppl.get("bits_per_byte"))),
                    ("tokens scored", f"{ppl.get('tokens', 0):,}"),
                ]
            )
            + f"<p class='muted'>on {html.escape(str(ppl.get('source', '')))}</p>"
        )
    harness = results.get("harness")
    if harness and harness.get("skipped"):
        out.append(f"<h3>lm-evaluation-harness</h3><p class='muted'>skipped: {html.escape(harness['skipped'])}</p>")
    elif harness and harness.get("headline"):
        rows = [[task, h["metric"], h["value"], _fmt(h.get("stderr")), harness.get("n-shot", {}).get(task, "")]
                for task, h in harness["headline"].items()]
        out.append("<h3>lm-evaluation-harness</h3>" + table(["task", "metric", "value", "± stderr", "shots"], rows, numeric_from=2))
    passkey = results.get("passkey")
    if passkey:
        rows = [[length, r["accuracy"], f"{r['correct']}/{r['trials']}"] for length, r in passkey["lengths"].items()]
        out.append("<h3>Passkey retrieval</h3>" + table(["context (tokens)", "accuracy", "correct"], rows, numeric_from=1))
    mt = results.get("mtbench")
    if mt:
        rows = [[c, v["turn1"], v["turn2"], v["score"], v["unscored"]] for c, v in sorted(mt["categories"].items())]
        rows.append(["overall", mt["turn1"], mt["turn2"], mt["score"], mt["unscored"]])
        out.append("<h3>MT-Bench (judge scores 1-10)</h3>" + table(["category", "turn 1", "turn 2", "score", "unscored"], rows))
    heard = results.get("docs_questions")
    if heard:
        n = heard["questions"]
        out.append(
            "<h3>Does it listen?</h3>"
            + kpis([("different answers", f"{heard['distinct']} of {n}"), ("name the module asked about", f"{heard['names_module']} of {n}")])
            + f"<p class='muted'>{n} questions about standard-library functions that its chat data never answered "
            "(greedy answers; the first five below)</p>"
        )
        for a in heard["answers"][:5]:
            mark = "<span class='ok'>names the module</span>" if a["names_module"] else "<span class='bad'>does not name the module</span>"
            out.append(f"<p><b>{html.escape(a['question'])}</b> {mark}</p><pre>{html.escape(a['answer'])}</pre>")
    samples = results.get("samples")
    if samples:
        out.append("<h3>Sample generations (greedy)</h3>")
        for s in samples:
            out.append(
                f"<p><b>{html.escape(s['prompt'])}</b></p><pre>{html.escape(s['completion'])}</pre>"
                f"<p class='muted'>finish: {html.escape(str(s.get('finish_reason')))}</p>"
            )
    return "".join(out) + "</div>"
