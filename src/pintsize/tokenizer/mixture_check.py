"""A check of mixture inference on every run: infer the training mixture of the run's own tokenizer
from its merges, with each corpus source as a category, and set it beside the byte share each source
really had in the text the tokenizer was trained on. The samples are that same text (in sample, cut
at `sample_bytes` per source), so a working tool must agree closely: a gap points at the replay or
the LP, or at a source with too little text, not at sampling noise."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

MERGES = 300
SAMPLE_BYTES = 300_000


def mixture_check(tok_dir: Path, corpus: Path, merges: int = MERGES, sample_bytes: int = SAMPLE_BYTES) -> dict | None:
    """{"sources": {name: {"known", "inferred"}}, "log10_mse", "log10_mse_uniform", ...}, or None when
    the tokenizer was not trained on this corpus (e.g. the Pints tokenizer) or it has one source.
    A source too small for the merges gives {"error": message} instead."""
    from pintsize.artifacts import MANIFEST, read_manifest
    from pintsize.data.records import iter_texts
    from pintsize.tokenizer.load import tokenizer_dir
    from pintsize.tokenizer.mixture_inference import MixtureInferenceError, infer_mixture

    tok_dir = tokenizer_dir(tok_dir)  # a model artifact's tokenizer/ too
    if not (tok_dir / MANIFEST).is_file():
        return None
    manifest = read_manifest(tok_dir)
    config = manifest.get("config", {})
    if config.get("kind") != "train":
        return None
    trained_on = manifest.get("inputs", {}).get("corpus", {}).get("path")
    if trained_on and Path(trained_on) != Path(corpus).resolve():
        return {"error": f"the tokenizer was trained on {trained_on}, not on {corpus}: its known mixture is not this corpus's"}
    texts: dict[str, list[str]] = {}
    for text, source in iter_texts(corpus, config.get("max_docs_per_source")):
        texts.setdefault(source, []).append(text)
    if len(texts) < 2:
        return None
    sizes = {s: sum(len(t.encode("utf-8")) for t in docs) for s, docs in texts.items()}
    known = {s: b / sum(sizes.values()) for s, b in sizes.items()}
    merges = min(merges, min(min(sizes.values()), sample_bytes) // 20)  # a tiny run checks fewer merges
    if merges < 20:
        return {"error": f"a source has only {min(sizes.values())} bytes: too little text for the check"}
    with tempfile.TemporaryDirectory() as tmp:
        cats = {}
        for s, docs in texts.items():
            cats[s] = Path(tmp) / f"source{len(cats)}.txt"
            cats[s].write_text("\n".join(docs), encoding="utf-8")
        try:
            result = infer_mixture(tok_dir, cats, merges=merges, sample_bytes=sample_bytes)
        except MixtureInferenceError as e:
            return {"error": str(e)}
    want, got = np.array(list(known.values())), np.array([result["proportions"][s] for s in known])
    mse, uniform = float(np.mean((got - want) ** 2)), float(np.mean((1 / len(want) - want) ** 2))
    return {"sources": {s: {"known": known[s], "inferred": result["proportions"][s]} for s in known},
            "merges": result["merges_used"], "log10_mse": float(np.log10(max(mse, 1e-12))),
            "log10_mse_uniform": float(np.log10(max(uniform, 1e-12))), "conflicting_merges": result["conflicting_merges"]["count"],
            "sample_bytes": result["sample_bytes"]}
