"""The adaptation recipe (recipes/adapt-language.toml) run for each --init, and FOCUS's static
embeddings checked: the `--recipe` mode of benchmarks/adapt_language.py.

Each init is one `pintsize run` of the recipe; the first run's base, curate, tokenizer and pack
artifacts are reused by the others ([run].reuse), so every init trains on the same shards and
is scored on the same held-out text.
"""

from __future__ import annotations

import copy
import json
import time
import tomllib
from pathlib import Path

SHARED = ("base", "curate", "tokenizer", "pack")


def run_inits(a) -> dict:
    from pintsize.pipeline.run import run
    from pintsize.recipe import parse_recipe

    recipe = tomllib.loads(Path(a.recipe).read_text())
    work, out = Path(a.work), {}
    first = Path(a.reuse_from) if a.reuse_from else None  # a finished run of the recipe: its data and tokenizer
    for init in a.inits:
        d = copy.deepcopy(recipe)
        d["run"] = {**d["run"], "name": f"adapt-{init}", "out_dir": str(work / init)}
        # "extend": SmolLM2's own tokenizer plus --extend-add German tokens (kind = "extend"), new rows by mean.
        extend = init == "extend"
        shared = SHARED[:2] if extend else SHARED  # its tokenizer and shards are its own
        if first is not None:
            d["run"]["reuse"] = {s: str(first / s) for s in shared if (first / s / "manifest.json").is_file()}
        if extend:
            d["tokenizer"] = {"kind": "extend", "add": a.extend_add}
        d["adapt"] = {**d["adapt"], "init": "mean" if extend else init, "eval_documents": a.eval_docs,
                      "eval_chars": a.eval_chars, "eval_seq_len": a.seq}
        d["pretrain"] = {**d["pretrain"], "max_steps": a.steps, "freeze_until_step": a.freeze, "ckpt_every": a.steps,
                         "val_every": a.val_every, "val_tokens": a.val_tokens, "micro_batch_size": a.batch,
                         "global_batch_tokens": a.batch * a.seq, "seq_len": a.seq}
        if a.lr:
            d["pretrain"]["optimizer"] = {**d["pretrain"].get("optimizer", {}), "lr": a.lr, "min_lr": a.lr / 10}
        d["eval"] = {**d.get("eval", {}), "samples": []}
        t0 = time.time()
        run(parse_recipe(d, f"{a.recipe} (init={init})"), report=False)
        first = first or (None if extend else work / init)
        out[init] = collect(work / init) | {"wall_s": round(time.time() - t0, 1)}
        print(init, json.dumps(out[init]["adapt_eval"]["rows"]), flush=True)
    return out


def collect(root: Path) -> dict:
    """One finished run's figures: the adapt_eval table, the transfer's row counts, the val curve."""
    metrics = [json.loads(l) for l in (root / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    return {
        "adapt_eval": json.loads((root / "adapt_eval" / "results.json").read_text()),
        "transfer": json.loads((root / "transfer" / "manifest.json").read_text())["stats"],
        "val_loss": {m["step"]: m["val_loss"] for m in metrics if "val_loss" in m},
    }


def static_embedding_quality(a, epochs: list[int]) -> dict:
    """How well word2vec on the target text predicts known embeddings: for each token both
    tokenizers share, FOCUS's sparsemax mix of the *other* shared tokens' old embeddings (leave
    one out), against the true old embedding, by cosine. The mean of all shared rows (what a
    method that knows nothing would guess) is the baseline."""
    import numpy as np
    import torch
    from safetensors.torch import load_file

    from pintsize.data.records import iter_texts
    from pintsize.model.checkpoint import resolve_model_dir
    from pintsize.tokenizer.focus import focus_weights, train_static_embeddings
    from pintsize.tokenizer.transfer import _backend, match_tokens
    from pintsize.tokenizer.load import tokenizer_dir

    first = Path(a.reuse_from or Path(a.work) / a.inits[0])
    base = resolve_model_dir(first / "base")
    old_root, new_root = tokenizer_dir(base), tokenizer_dir(first / "tokenizer")
    old, new = _backend(old_root), _backend(new_root)
    pairs = match_tokens(old, new, old_root, new_root)
    emb = load_file(str(base / "model.safetensors"))["tok_emb.weight"].float()
    texts = [t for t, _ in iter_texts(first / "curate", None)]
    docs = [e.tokens for e in new.encode_batch(texts, add_special_tokens=False)]
    specials = set(new.get_added_tokens_decoder())
    out = {"corpus_tokens": sum(len(d) for d in docs)}
    for ep in epochs:
        wv = train_static_embeddings(docs, 100, ep, 0)
        ids = [i for i in sorted(pairs) if i not in specials and new.id_to_token(i) in wv.key_to_index]
        vecs = np.stack([wv[new.id_to_token(i)] for i in ids])
        rows = emb[torch.tensor([pairs[i] for i in ids])]
        mean_row = rows.mean(0)
        cos, base_cos, support = [], [], []
        for j in range(len(ids)):
            keep = np.arange(len(ids)) != j
            w = torch.from_numpy(focus_weights(vecs[j], vecs[keep])).float()
            pred = w @ rows[torch.from_numpy(keep)]
            cos.append(torch.cosine_similarity(pred, rows[j], dim=0).item())
            base_cos.append(torch.cosine_similarity(mean_row, rows[j], dim=0).item())
            support.append(int((w > 0).sum()))
        out[f"epochs_{ep}"] = {"shared_tokens": len(ids), "focus_loo_cosine": float(np.mean(cos)),
                               "mean_row_cosine": float(np.mean(base_cos)), "median_support": float(np.median(support))}
        print(f"word2vec {ep} epochs:", out[f"epochs_{ep}"], flush=True)
    return out


def plot(results: dict, path: Path, freeze: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    colors = {"random": "tab:red", "mean": "tab:blue", "focus": "tab:green", "extend": "tab:purple"}
    for init, r in results.items():
        steps = sorted(int(s) for s in r["val_loss"])
        left.plot(steps, [r["val_loss"][s] if s in r["val_loss"] else r["val_loss"][str(s)] for s in steps], "o-",
                  color=colors.get(init), label=init + (" (its own tokenizer: other units)" if init == "extend" else ""))
    left.axvspan(0, freeze, color="0.9", label="embeddings only")
    left.set(xlabel="step", ylabel="German val loss (nats/token, new tokenizer)", title="continued pretraining")
    left.legend()
    inits = list(results)
    base_row = results[inits[0]]["adapt_eval"]["rows"][0]
    x = range(len(inits))
    for k, (domain, label) in enumerate((("new", "German"), ("old", "English"))):
        zero = [results[i]["adapt_eval"]["rows"][1][f"{domain}_bpb"] for i in inits]
        after = [results[i]["adapt_eval"]["rows"][2][f"{domain}_bpb"] for i in inits]
        off = -0.3 + 0.3 * k
        right.bar([i + off for i in x], zero, 0.15, color=f"C{2 * k}", alpha=0.5, label=f"{label}, 0 steps")
        right.bar([i + off + 0.15 for i in x], after, 0.15, color=f"C{2 * k}", label=f"{label}, after budget")
        right.axhline(base_row[f"{domain}_bpb"], color=f"C{2 * k}", ls="--", lw=1, label=f"{label}, original model")
    right.set_xticks(list(x), inits)
    right.set(ylabel="held-out bits per byte", title="held-out bits per byte by init")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
