"""The adaptation recipe (recipes/adapt-language.toml) run for each --init, the model after the
embeddings warm-up scored too, extend's added tokens counted, and FOCUS's auxiliary embeddings
checked against rows we know: the `--recipe` mode of benchmarks/adapt_language.py.

Each init is one `pintsize run` of the recipe; the first run's base, curate, tokenizer and pack
artifacts are reused by the others ([run].reuse), so every init trains on the same shards and
is scored on the same held-out text.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
import tomllib
from pathlib import Path

SHARED = ("base", "curate", "tokenizer", "pack")
BENCH_JSON = "adapt_bench.json"  # one init's figures, kept beside its run


def run_inits(a) -> dict:
    from pintsize.pipeline.run import run
    from pintsize.recipe import parse_recipe

    recipe = tomllib.loads(Path(a.recipe).read_text())
    work, out = Path(a.work), {}
    first = Path(a.reuse_from) if a.reuse_from else None  # a finished run of the recipe: its data and tokenizer
    for init in a.inits:
        done = work / init / BENCH_JSON
        if done.is_file():  # finished by an earlier (or a parallel) process: its figures, as they were
            out[init] = json.loads(done.read_text())
            first = first or (None if init == "extend" else work / init)
            continue
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
        # a checkpoint at the end of the embeddings warm-up (and every `freeze` steps after), scored below
        d["pretrain"] = {**d["pretrain"], "max_steps": a.steps, "freeze_until_step": a.freeze, "ckpt_every": a.freeze,
                         "keep_last": a.steps // a.freeze + 1,
                         "val_every": a.val_every, "val_tokens": a.val_tokens, "micro_batch_size": a.batch,
                         "global_batch_tokens": a.batch * a.seq, "seq_len": a.seq}
        if a.lr:
            d["pretrain"]["optimizer"] = {**d["pretrain"].get("optimizer", {}), "lr": a.lr, "min_lr": a.lr / 10}
        d["eval"] = {**d.get("eval", {}), "samples": []}
        t0 = time.time()
        recipe_obj = parse_recipe(d, f"{a.recipe} (init={init})")
        run(recipe_obj, report=False)
        first = first or (None if extend else work / init)
        out[init] = collect(work / init) | {"wall_s": round(time.time() - t0, 1)}
        if a.freeze < a.steps:
            out[init]["warmup"] = checkpoint_row(work / init, recipe_obj.adapt, a.freeze)
        else:  # a warm-up-only budget: the end of the run is the end of the warm-up, already scored
            out[init]["warmup"] = out[init]["adapt_eval"]["rows"][2] | {"model": f"after the warm-up ({a.steps} steps)"}
        if extend:
            out[init]["extend_usage"] = extend_usage(work / init, recipe_obj.adapt)
        done.write_text(json.dumps(out[init], indent=2))
        print(init, json.dumps(out[init]["adapt_eval"]["rows"]), flush=True)
    return out


def _input(artifact: Path, name: str) -> Path:
    """An input of an artifact, as its manifest records it (a run's reused stages live elsewhere)."""
    return Path(json.loads((artifact / "manifest.json").read_text())["inputs"][name]["path"])


def checkpoint_row(root: Path, adapt, step: int) -> dict:
    """Held-out bits per byte and tokens per byte of the model in the pretraining checkpoint at
    `step` (the end of the embeddings warm-up), on the adapt_eval stage's texts."""
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    from pintsize.eval.adapt import domain_texts
    from pintsize.eval.perplexity import evaluate_perplexity
    from pintsize.model.checkpoint import load_model
    from pintsize.tokenizer.load import load_tokenizer

    ckpt = next(root.glob(f"pretrain/**/checkpoints/step-{step:07d}"))
    model, tok = load_model(root / "transfer"), load_tokenizer(root / "transfer")
    state = {"model": get_model_state_dict(model)}
    dcp.load(state, checkpoint_id=str(ckpt))  # the model only: the optimizer state is not needed
    set_model_state_dict(model, state["model"])
    model.eval()
    seq = min(adapt.eval_seq_len, model.config.block_size)
    row = {"model": f"after the warm-up ({step} steps)", "path": str(ckpt)}
    with torch.no_grad():
        for domain, docs in domain_texts(adapt, _input(root / "adapt_eval", "shards")).items():
            r = evaluate_perplexity(model, tok, docs, seq_len=seq, stride=seq, batch_size=4)
            row[f"{domain}_bpb"], row[f"{domain}_tokens_per_byte"] = r.bits_per_byte, r.tokens / r.bytes
    shutil.rmtree(ckpt.parent)  # 1.7 GB per checkpoint of SmolLM2 and its optimizer: the figure is all we need
    return row


def extend_usage(root: Path, adapt) -> dict:
    """How the tokens `extend` added are used: the share of them that occur in the German text they
    were learned from and in the held-out German, the share of held-out German tokens that are
    added ones, and how many added tokens encode their own string to themselves."""
    from pintsize.data.records import iter_texts
    from pintsize.eval.adapt import domain_texts
    from pintsize.model.checkpoint import resolve_model_dir
    from pintsize.tokenizer.load import tokenizer_dir
    from pintsize.tokenizer.transfer import _backend

    old = _backend(tokenizer_dir(resolve_model_dir(_input(root / "transfer", "model"))))
    new = _backend(tokenizer_dir(_input(root / "transfer", "tokenizer")))
    first = old.get_vocab_size(with_added_tokens=True)
    added = range(first, new.get_vocab_size(with_added_tokens=True))
    train = [t for t, _ in iter_texts(_input(_input(root / "transfer", "tokenizer"), "corpus"), None)]
    held = domain_texts(adapt, _input(root / "adapt_eval", "shards"))["new"]
    used_train = {i for e in new.encode_batch(train, add_special_tokens=False) for i in e.ids if i >= first}
    held_ids = [i for e in new.encode_batch(held, add_special_tokens=False) for i in e.ids]
    return {
        "added": len(added),
        "used_on_training_text": len(used_train) / len(added),
        "used_on_held_out": len({i for i in held_ids if i >= first}) / len(added),
        "held_out_token_share": sum(i >= first for i in held_ids) / len(held_ids),
        "encode_to_themselves": sum([p.id for p in new.model.tokenize(new.id_to_token(i))] == [i] for i in added) / len(added),
    }


def collect(root: Path) -> dict:
    """One finished run's figures: the adapt_eval table, the transfer's row counts, the val curve."""
    metrics = [json.loads(l) for l in (root / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    return {
        "adapt_eval": json.loads((root / "adapt_eval" / "results.json").read_text()),
        "transfer": json.loads((root / "transfer" / "manifest.json").read_text())["stats"],
        "val_loss": {m["step"]: m["val_loss"] for m in metrics if "val_loss" in m},
    }


def focus_proxy(a, n_held: int = 450, seed: int = 0) -> dict:
    """How well each auxiliary embedding predicts rows we know: for `n_held` shared tokens (drawn
    at random among those with a vector in every model and a merge in the old tokenizer), FOCUS's
    sparsemax mix of the *other* shared tokens' SmolLM2 rows, against the true row, by cosine
    after the mean row is removed (the mean row itself scores 0). FVT's guess is the mean of the
    rows of the two parts the old merge joined (what FVT would do without the token itself)."""
    import numpy as np
    import torch
    from gensim.models import Word2Vec
    from safetensors.torch import load_file

    from pintsize.data.records import iter_texts
    from pintsize.model.checkpoint import resolve_model_dir
    from pintsize.tokenizer.focus import focus_weights, has_vector, train_static_embeddings
    from pintsize.tokenizer.load import TOKENIZER_JSON, tokenizer_dir
    from pintsize.tokenizer.transfer import _backend, match_tokens

    first = Path(a.reuse_from or Path(a.work) / next(i for i in a.inits if i != "extend"))
    base = resolve_model_dir(_input(first / "transfer", "model"))
    old_root, new_root = tokenizer_dir(base), tokenizer_dir(_input(first / "transfer", "tokenizer"))
    old, new = _backend(old_root), _backend(new_root)
    pairs = match_tokens(old, new, old_root, new_root)
    emb = load_file(str(base / "model.safetensors"))["tok_emb.weight"].float()[: old.get_vocab_size(with_added_tokens=True)]
    mean_row = emb.mean(0)
    merged_from = {"".join(m if isinstance(m, list) else m.split(" ", 1)): m if isinstance(m, list) else m.split(" ", 1)
                   for m in json.loads((old_root / TOKENIZER_JSON).read_text())["model"]["merges"]}
    texts = [t for t, _ in iter_texts(_input(new_root, "corpus"), None)]
    docs = [e.tokens for e in new.encode_batch(texts, add_special_tokens=False)]
    t0 = time.time()
    aux = {
        # pintsize's FOCUS before issue 27: word2vec skip-gram, min_count 1, no subwords
        "word2vec (sg, min_count 1)": Word2Vec(docs, vector_size=100, window=5, min_count=1, epochs=3, workers=1, seed=0, sg=1).wv,
        "fastText (CBOW, subwords, min_count 10)": train_static_embeddings(docs),
    }
    print(f"focus proxy: auxiliary embeddings in {time.time() - t0:.0f}s", flush=True)
    specials = set(new.get_added_tokens_decoder())
    shared = [i for i in sorted(pairs) if i not in specials]
    candidates = [i for i in shared if new.id_to_token(i) in merged_from and all(has_vector(wv, new.id_to_token(i)) for wv in aux.values())]
    held = sorted(np.random.default_rng(seed).choice(candidates, size=min(n_held, len(candidates)), replace=False).tolist())

    def centred_cos(pred, true):
        return torch.cosine_similarity(pred - mean_row, true - mean_row, dim=0).item()

    out = {"corpus_tokens": sum(len(d) for d in docs), "shared_tokens": len(shared), "held_out_tokens": len(held)}
    for name, wv in aux.items():
        support = [i for i in shared if has_vector(wv, new.id_to_token(i))]
        vecs = np.stack([wv[new.id_to_token(i)] for i in support])
        rows = emb[torch.tensor([pairs[i] for i in support])]
        where = {i: k for k, i in enumerate(support)}
        cos, size = [], []
        for j in held:
            keep = np.arange(len(support)) != where[j]
            w = torch.from_numpy(focus_weights(vecs[where[j]], vecs[keep])).float()
            cos.append(centred_cos(w @ rows[torch.from_numpy(keep)], emb[pairs[j]]))
            size.append(int((w > 0).sum()))
        out[name] = {"support": len(support), "centred_cosine": float(np.mean(cos)), "median_weights_above_0": float(np.median(size))}
    old_vocab = old.get_vocab(with_added_tokens=True)
    fvt = [centred_cos(emb[[old_vocab[p] for p in merged_from[new.id_to_token(j)]]].mean(0), emb[pairs[j]]) for j in held]
    out["FVT (mean of the merged parts)"] = {"centred_cosine": float(np.mean(fvt))}
    for k, v in out.items():
        print(f"focus proxy {k}: {v}", flush=True)
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
