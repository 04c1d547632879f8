"""The ablation's results: per-variant means and seed spreads, comparisons with the reference
variant that say plainly when a difference is within the noise, a rich table and a bar plot.

A difference counts only when it is larger than the noise: the larger of the two variants'
seed spreads (max - min over seeds) and, for accuracies, twice the standard error of the
difference from the finite number of items. With two seeds the spread is itself a rough
estimate: a difference just above it is a hint, not a result.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from statistics import mean

from rich.console import Console
from rich.table import Table

# metric key -> (label, lower is better)
METRICS = {
    "heldout_bpb": ("held-out bits/byte", True),
    "cloze_accuracy": ("cloze accuracy", False),
    "cloze_accuracy_context": ("cloze acc., context gain", False),
}
ACCURACIES = ("cloze_accuracy", "cloze_accuracy_context")


def run_metrics(r: dict) -> dict:
    """The flat numbers of one run's result."""
    m = {
        "unique_tokens": r["train"]["unique_tokens"],
        "passes": r["train"]["passes"],
        "final_train_loss": r["train"]["final_loss"],
        "heldout_bpb": r["eval"]["heldout"]["bits_per_byte"],
        "cloze_accuracy": r["eval"]["cloze"]["accuracy"],
        "cloze_accuracy_context": r["eval"]["cloze"].get("accuracy_context"),
    }
    for task, h in r["eval"].get("harness", {}).items():
        m[f"harness:{task}"] = h["value"]
    return m


def _stats(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "min": None, "max": None, "spread": None, "n": 0}
    return {"mean": mean(values), "min": min(values), "max": max(values), "spread": max(values) - min(values), "n": len(values)}


def summarize(runs: dict[str, dict[int, dict]], reference: str, descriptions: dict[str, str]) -> dict:
    """runs: variant -> seed -> result. Returns the `results.json` content (less the header)."""
    variants = {}
    for name, by_seed in runs.items():
        per_seed = {seed: run_metrics(r) for seed, r in sorted(by_seed.items())}
        keys = sorted({k for m in per_seed.values() for k in m})
        items = {s: r["eval"]["cloze"]["n"] for s, r in by_seed.items()}
        variants[name] = {
            "description": descriptions.get(name, ""),
            "seeds": per_seed,
            "summary": {k: _stats([m.get(k) for m in per_seed.values()]) for k in keys},
            "cloze_items": max(items.values()) if items else 0,
            "harness_n": {t: h.get("n") for r in by_seed.values() for t, h in r["eval"].get("harness", {}).items()},
        }
    ref = reference if reference in variants else next(iter(variants))
    comparisons = [_compare(variants[ref], variants[v], ref, v) for v in variants if v != ref]
    return {"reference": ref, "variants": variants, "comparisons": comparisons}


def _accuracy_se(acc: float | None, n: int | None) -> float:
    return math.sqrt(acc * (1 - acc) / n) if acc is not None and n else 0.0


def _compare(ref: dict, var: dict, ref_name: str, var_name: str) -> dict:
    out = {"variant": var_name, "reference": ref_name, "metrics": {}}
    keys = [k for k in ref["summary"] if k in METRICS or k.startswith("harness:")]
    for key in keys:
        a, b = ref["summary"][key], var["summary"].get(key)
        if not b or a["mean"] is None or b["mean"] is None:
            continue
        lower_better = METRICS.get(key, ("", False))[1]
        delta = b["mean"] - a["mean"]
        noise = max(a["spread"], b["spread"])
        if key in ACCURACIES or key.startswith("harness:"):
            n_a = ref["cloze_items"] if key in ACCURACIES else ref["harness_n"].get(key.split(":", 1)[1])
            n_b = var["cloze_items"] if key in ACCURACIES else var["harness_n"].get(key.split(":", 1)[1])
            noise = max(noise, 2 * math.hypot(_accuracy_se(a["mean"], n_a), _accuracy_se(b["mean"], n_b)))
        if min(a["n"], b["n"]) < 2 and noise == 0:
            verdict = "one seed: no spread to judge the difference by"
        elif abs(delta) <= noise:
            verdict = "within the noise: no difference shown"
        else:
            better = var_name if (delta < 0) == lower_better else ref_name
            verdict = f"{better} better (beyond the seed spread)"
        out["metrics"][key] = {"reference_mean": a["mean"], "variant_mean": b["mean"], "delta": delta, "noise": noise, "verdict": verdict}
    return out


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return f"{int(v):,}"
    return f"{v:.{digits}f}"


def render_table(results: dict) -> Table:
    variants = results["variants"]
    harness = sorted({k for v in variants.values() for k in v["summary"] if k.startswith("harness:")})
    t = Table(title=f"ablation: {results.get('budget_tokens', 0):,} training tokens per run, reference {results['reference']}")
    cols = ("variant", "seed", "unique tokens", "passes", "final train loss", "held-out BPB", "cloze acc", "cloze ctx-gain acc")
    for col in (*cols, *[h.split(":", 1)[1] for h in harness]):
        t.add_column(col, justify="left" if col in ("variant",) else "right")
    for name, v in variants.items():
        for seed, m in v["seeds"].items():
            t.add_row(
                name, str(seed), _fmt(m["unique_tokens"]), f"{m['passes']:.2f}", _fmt(m["final_train_loss"]),
                _fmt(m["heldout_bpb"]), _fmt(m["cloze_accuracy"], 3), _fmt(m.get("cloze_accuracy_context"), 3),
                *[_fmt(m.get(h), 3) for h in harness],
            )
        s = v["summary"]

        def ms(key: str, digits: int = 4) -> str:
            x = s.get(key)
            return "-" if not x or x["mean"] is None else f"{x['mean']:.{digits}f} ± {x['spread'] / 2:.{digits}f}"

        t.add_row(
            f"[bold]{name}[/]", "mean", _fmt(s["unique_tokens"]["mean"]), f"{s['passes']['mean']:.2f}", ms("final_train_loss"),
            f"[bold]{ms('heldout_bpb')}[/]", f"[bold]{ms('cloze_accuracy', 3)}[/]", ms("cloze_accuracy_context", 3),
            *[ms(h, 3) for h in harness],
            end_section=True,
        )
    return t


def render_comparisons(results: dict) -> Table:
    t = Table(title=f"differences from {results['reference']} (noise = larger seed spread; accuracies also 2 x item SE)")
    for col in ("variant", "metric", "delta", "noise", "verdict"):
        t.add_column(col)
    for c in results["comparisons"]:
        for key, m in c["metrics"].items():
            label = METRICS.get(key, (key.split(":", 1)[-1],))[0]
            t.add_row(c["variant"], label, f"{m['delta']:+.4f}", f"{m['noise']:.4f}", m["verdict"])
    return t


def print_results(results: dict, console: Console | None = None) -> str:
    """Print the tables; returns them as plain text (for table.txt)."""
    console = console or Console()
    console.print(render_table(results))
    if results["comparisons"]:
        console.print(render_comparisons(results))
    record = Console(record=True, width=200, file=io.StringIO())
    record.print(render_table(results))
    if results["comparisons"]:
        record.print(render_comparisons(results))
    return record.export_text()


def plot_results(results: dict, path: Path) -> Path:
    """Bars of the per-variant means with each seed as a point: held-out BPB, cloze accuracy, harness tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = results["variants"]
    names = list(variants)
    keys = ["heldout_bpb", *ACCURACIES] + sorted({k for v in variants.values() for k in v["summary"] if k.startswith("harness:")})
    keys = [k for k in keys if any(variants[n]["summary"].get(k, {}).get("mean") is not None for n in names)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 4.2), squeeze=False)
    colors = ["#4C72B0" if n == results["reference"] else "#999999" for n in names]
    for ax, key in zip(axes[0], keys):
        means = [variants[n]["summary"].get(key, {}).get("mean") or 0.0 for n in names]
        ax.bar(range(len(names)), means, color=colors, alpha=0.75)
        for i, n in enumerate(names):
            pts = [m.get(key) for m in variants[n]["seeds"].values() if m.get(key) is not None]
            ax.scatter([i] * len(pts), pts, color="black", s=18, zorder=3)
        if key != "heldout_bpb":
            ax.axhline(0.25, color="red", linestyle="--", linewidth=1, label="chance (4 choices)")
            ax.legend(loc="lower right", fontsize=8)
        label, lower = METRICS.get(key, (key.split(":", 1)[-1] + " (acc)", False))
        ax.set_title(f"{label} ({'lower' if lower else 'higher'} is better)", fontsize=10)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=9)
        vals = [p for n in names for p in (m.get(key) for m in variants[n]["seeds"].values()) if p is not None]
        if vals and key == "heldout_bpb":
            lo, hi = min(vals), max(vals)
            ax.set_ylim(max(0.0, lo - (hi - lo) * 0.5 - 0.05), hi + (hi - lo) * 0.3 + 0.05)
    fig.suptitle(f"pintsize ablate: {results.get('budget_tokens', 0):,} tokens per run, seeds as points", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
