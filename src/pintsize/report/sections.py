"""The report's sections. Each takes the run's stage artifacts (stage name -> directory, see
`pintsize.report.html.stage_dirs`) and returns HTML, or "" when its artifacts are missing."""

from __future__ import annotations

from pintsize.report.data_section import render_curation
from pintsize.report.elements import StageDirs, artifact_file, figure, kpis, png, read_json, read_jsonl, table
from pintsize.report.eval_section import render_eval
from pintsize.report.tokenizer_section import render_tokenizer

TRAINING_STAGES = ("pretrain", "sft", "dpo")


# ---------------------------------------------------------------- summary


def summary(dirs: StageDirs) -> str:
    items = []
    stats = read_json(artifact_file(dirs, "curate", "stats.json"))
    if stats:
        total = stats.get("total", {})
        if "docs_in" in total:
            items.append(("documents in → kept", f"{total['docs_in']:,} → {total.get('docs_out', 0):,}"))
    pack = read_json(artifact_file(dirs, "pack", "manifest.json"))
    if pack:
        tokens = pack["stats"].get("train_tokens") or pack["stats"].get("tokens")
        if tokens:
            items.append(("training tokens", f"{tokens:,}"))
    for stage in TRAINING_STAGES:
        m = read_json(artifact_file(dirs, stage, "manifest.json"))
        if m:
            params = m["stats"].get("params")
            if params and not any(k == "parameters" for k, _ in items):
                items.append(("parameters", f"{params:,}"))
            items.append((f"{stage} time", f"{m['seconds'] / 60:.1f} min"))
    ev = read_json(artifact_file(dirs, "eval", "results.json"))
    if ev and isinstance(ev.get("perplexity"), dict) and "bits_per_byte" in ev["perplexity"]:
        items.append(("validation bits/byte", f"{ev['perplexity']['bits_per_byte']:.3f}"))
    return kpis(items) if items else ""


# ---------------------------------------------------------------- data


def data_funnel(dirs: StageDirs) -> str:
    stats = read_json(artifact_file(dirs, "curate", "stats.json"))
    if not stats:
        return ""
    return render_curation(stats, dirs["curate"])


def tokenizer(dirs: StageDirs) -> str:
    if not artifact_file(dirs, "tokenizer", "manifest.json").is_file() or not artifact_file(dirs, "curate", "manifest.json").is_file():
        return ""
    tok_dir, corpus = dirs["tokenizer"], dirs["curate"]
    return render_tokenizer(tok_dir, corpus)


# ---------------------------------------------------------------- training


def training(dirs: StageDirs) -> str:
    out = []
    for stage in TRAINING_STAGES:
        records = read_jsonl(artifact_file(dirs, stage, "metrics.jsonl"))
        if not records:
            continue
        train = [r for r in records if r.get("loss") is not None]
        val = [r for r in records if r.get("val_loss") is not None]
        fig, ax = figure()
        if train:
            ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss", color="#3b6fd8")
        if val:
            ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation loss", color="#d8563b")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend()
        section = f"<h2>Training: {stage}</h2><div class='card'>{png(fig)}"
        speed = [r for r in train if r.get("tokens_per_s")]
        if speed:
            last = speed[-1]
            items = [("tokens/s (last interval)", f"{last['tokens_per_s']:,.0f}")]
            if last.get("mfu") is not None:
                items.append(("MFU", f"{last['mfu']:.1%}"))
            if val:
                items.append(("final validation loss", f"{val[-1]['val_loss']:.4f}"))
            items.append(("steps", f"{train[-1]['step']:,}"))
            passes = (read_json(artifact_file(dirs, stage, "manifest.json")) or {}).get("stats", {}).get("data_passes", {})
            items += [(f"passes over {'the data' if k == 'all' else k}", f"{v:.2f}") for k, v in passes.items()]
            section += kpis(items)
            fig, ax = figure(height=2.6)
            ax.plot([r["step"] for r in speed], [r["tokens_per_s"] for r in speed], color="#2f9e6e")
            ax.set_xlabel("step")
            ax.set_ylabel("tokens/s")
            ax.grid(alpha=0.3)
            section += png(fig)
        extra = sorted({k for r in records for k in r if k.startswith("val_") and k not in ("val_loss", "val_tokens")})
        if extra:
            rows = [[r["step"]] + [r.get(k, "") for k in extra] for r in records if any(k in r for k in extra)]
            section += "<h3>Validation metrics</h3>" + table(["step"] + extra, rows[-10:])
        out.append(section + "</div>")
    return "\n".join(out)


# ---------------------------------------------------------------- evaluation


def evaluation(dirs: StageDirs) -> str:
    results = read_json(artifact_file(dirs, "eval", "results.json"))
    if not results:
        return ""
    return render_eval(results)
