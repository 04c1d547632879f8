"""The report's tokenizer section: how well the run's tokenizer compresses each source of the
curated corpus, next to the 1.5-Pints tokenizer (fewer tokens per word = more text per step)."""

from __future__ import annotations

import os
from pathlib import Path

from pintsize.report.elements import figure, png, table

DOCS_PER_SOURCE = 100


def pints_reference() -> Path | None:
    """The Pints tokenizer, built once into the user cache (it needs only the mistral-common wheel)."""
    cache = Path(os.environ.get("PINTSIZE_CACHE", Path.home() / ".cache" / "pintsize")) / "pints-tokenizer"
    if not cache.is_dir():
        try:
            from pintsize.tokenizer.pints import build_pints_tokenizer

            build_pints_tokenizer(cache)
        except Exception:  # noqa: BLE001 - the comparison is optional; the run's own numbers still show
            return None
    return cache


def render_tokenizer(tok_dir: Path, corpus: Path) -> str:
    from pintsize.tokenizer.compare import compare_tokenizers
    from pintsize.tokenizer.mixture_check import mixture_check

    paths = [tok_dir]
    reference = pints_reference()
    if reference is not None and reference.resolve() != tok_dir.resolve():
        paths.append(reference)
    result = compare_tokenizers(paths, corpus, max_docs_per_source=DOCS_PER_SOURCE)
    names = list(result["tokenizers"])
    label = {n: ("this run" if i == 0 else "1.5-Pints") for i, n in enumerate(names)}
    header = ["source"]
    for n in names:
        vocab = result["tokenizers"][n]["vocab_size"]
        header += [f"{label[n]} ({vocab:,}): chars/token", "tokens/word", "byte fallback"]
    rows = []
    sources = list(result["tokenizers"][names[0]]["metrics"])
    for source in sources:
        row = [source]
        for n in names:
            m = result["tokenizers"][n]["metrics"][source]
            row += [round(m["chars_per_token"], 2), round(m["tokens_per_word"], 2), f"{m['byte_fallback_rate']:.1%}"]
        rows.append(row)
    fig, ax = figure(height=2.8)
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        values = [result["tokenizers"][n]["metrics"][s]["chars_per_token"] for s in sources]
        ax.bar([j + i * width for j in range(len(sources))], values, width, label=f"{label[n]} ({result['tokenizers'][n]['vocab_size']:,})")
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(sources))], sources)
    ax.set_ylabel("characters per token")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    note = (
        f"<p class='muted'>Measured on up to {DOCS_PER_SOURCE} curated documents per source. "
        "Byte fallback counts tokens that stand for single bytes (in Mistral's vocabulary every newline and tab).</p>"
    )
    return f"<h2>Tokenizer</h2><div class='card'>{png(fig)}{table(header, rows)}{note}{render_mixture_check(mixture_check(tok_dir, corpus))}</div>"


def render_mixture_check(check: dict | None) -> str:
    """The run's tokenizer's inferred training mixture beside the corpus's real byte shares."""
    if check is None:
        return ""
    if "error" in check:
        return f"<p class='muted'>Mixture-inference check skipped: {check['error']}</p>"
    rows = [[s, f"{v['known']:.3f}", f"{v['inferred']:.3f}"] for s, v in check["sources"].items()]
    return (
        "<h3>What the tokenizer learned: inferred training mixture</h3>"
        + table(["source", "byte share in the tokenizer's training text", f"inferred from its first {check['merges']} merges"], rows)
        + f"<p class='muted'>Mixture inference (Hayase et al. 2024; <code>pintsize tokenizer infer-mixture</code>) on the "
        f"training text itself: log10 MSE {check['log10_mse']:.2f} (a uniform guess: {check['log10_mse_uniform']:.2f}); "
        f"{check['conflicting_merges']} merges conflict with every mixture of these sources. The two columns should agree.</p>"
    )
