"""Held-out bits per byte in the new and the old domain, for the models of an adaptation run.

Bits per byte divide a document's total negative log-likelihood by its UTF-8 bytes, so models
with different tokenizers are compared on the same text. The new domain is the val split of the
run's shards (documents never trained on); the old one is text the base model knew (by default
the Python standard library's documentation, English). Tokens per byte show each tokenizer's
compression of the same text.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from pintsize.artifacts import ArtifactWriter, atomic_write_json

RESULTS = "results.json"


def domain_texts(config, shards: Path) -> dict[str, list[str]]:
    from pintsize.eval.texts import read_texts, texts_from_shards

    n, cut = config.eval_documents, config.eval_chars
    new, _ = texts_from_shards(shards, "val", n)
    if config.old_domain == "builtin:pydoc":
        from pintsize.data.pydoc_corpus import pydoc_documents

        old = [d["text"] for d in pydoc_documents()[-n:]]  # the last modules: a stable sample
    else:
        old, _ = read_texts(config.old_domain, n)
    return {"new": [t[:cut] for t in new], "old": [t[:cut] for t in old]}


def evaluate_domains(config, models: dict[str, Path], shards: Path, out: Path, inputs: dict[str, Path]) -> dict:
    """{"rows": [{model, new_bpb, old_bpb, new_tokens_per_byte, old_tokens_per_byte}], ...}, also
    written to `<out>/results.json` (an artifact of stage adapt_eval)."""
    from pintsize.eval.perplexity import evaluate_perplexity
    from pintsize.model.checkpoint import load_model, resolve_model_dir
    from pintsize.tokenizer.load import load_tokenizer

    texts = domain_texts(config, shards)
    rows = []
    with ArtifactWriter(out, "adapt_eval", config, inputs=inputs) as art:
        for label, path in models.items():
            model_dir = resolve_model_dir(path, label)
            model, tok = load_model(model_dir).eval(), load_tokenizer(model_dir)
            seq = min(config.eval_seq_len, model.config.block_size)
            row = {"model": label, "path": str(model_dir)}
            for domain, docs in texts.items():
                result = evaluate_perplexity(model, tok, docs, seq_len=seq, stride=seq, batch_size=4)
                row[f"{domain}_bpb"] = result.bits_per_byte
                row[f"{domain}_tokens_per_byte"] = result.tokens / result.bytes
            rows.append(row)
            del model
        results = {"rows": rows, "bytes": {d: sum(len(t.encode()) for t in docs) for d, docs in texts.items()},
                   "documents": {d: len(docs) for d, docs in texts.items()}, "old_domain": config.old_domain}
        atomic_write_json(art.dir / RESULTS, results)
        art.stats.update({r["model"]: {"new_bpb": round(r["new_bpb"], 4), "old_bpb": round(r["old_bpb"], 4)} for r in rows})
    return results


def print_table(results: dict) -> None:
    t = Table(title=f"held-out bits per byte (new domain {results['bytes']['new']:,} bytes, old {results['bytes']['old']:,} bytes)")
    for col in ("model", "new domain bpb", "old domain bpb", "new tokens/byte", "old tokens/byte"):
        t.add_column(col)
    for r in results["rows"]:
        t.add_row(r["model"], f"{r['new_bpb']:.3f}", f"{r['old_bpb']:.3f}", f"{r['new_tokens_per_byte']:.3f}", f"{r['old_tokens_per_byte']:.3f}")
    Console().print(t)
