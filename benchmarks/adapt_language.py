"""Adapting SmolLM2-135M to German with a new tokenizer: random vs mean (FVT) vs focus (FOCUS),
and SmolLM2's own tokenizer extended (extend).

German: Debian's translated manpages (`apt-get download manpages-de; dpkg-deb -x ...`), rendered
with groff; pages split by file into train (tokenizer, FOCUS's static embeddings, the tiny
training budget) and held-out. Old domain: the stdlib documentation (English).
Prints a table and writes JSON; bits per byte are comparable across tokenizers.

    python benchmarks/adapt_language.py --model /tmp/smol17 --manpages /tmp/de17/x/usr/share/man/de --work /tmp/adapt17

With --recipe, the adaptation recipe itself instead (`pintsize run` once per init, on the same
shards, embeddings warm-up then all parameters; scored at 0 steps, after the warm-up and at the
end), extend's added tokens counted, FOCUS's auxiliary embeddings checked, and a plot:

    python benchmarks/adapt_language.py --recipe recipes/adapt-language.toml --work /tmp/adapt17r \
        --inits mean focus extend random --steps 64 --freeze 16 --batch 4 --seq 128
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def render(page: Path) -> str:
    out = subprocess.run(["groff", "-k", "-Tutf8", "-man", "-P", "-cbou"], input=subprocess.run(
        ["zcat", str(page)], capture_output=True).stdout, capture_output=True).stdout.decode("utf-8", "replace")
    return "\n".join(l.strip() for l in out.splitlines() if l.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--manpages")
    ap.add_argument("--work", required=True)
    ap.add_argument("--recipe", help="run this adaptation recipe once per --inits instead")
    ap.add_argument("--reuse-from", help="--recipe: a finished run of it whose base, curate, tokenizer and pack to reuse")
    ap.add_argument("--inits", nargs="+", default=["random", "mean", "focus"],
                    help="--recipe: also 'extend' (the model's own tokenizer plus --extend-add tokens, new rows by mean)")
    ap.add_argument("--extend-add", type=int, default=2048, help="--recipe, init 'extend': tokens to add")
    ap.add_argument("--collect-only", action="store_true", help="--recipe: only gather the figures of finished runs in --work")
    ap.add_argument("--freeze", type=int, default=20, help="--recipe: embeddings-only steps")
    ap.add_argument("--val-every", type=int, default=10)
    ap.add_argument("--val-tokens", type=int, default=8192)
    ap.add_argument("--eval-docs", type=int, default=16)
    ap.add_argument("--eval-chars", type=int, default=3000)
    ap.add_argument("--proxy-held", type=int, default=450,
                    help="--recipe: shared tokens whose rows FOCUS's auxiliary embeddings predict (0: skip the check)")
    ap.add_argument("--plot", default="benchmarks/adapt_language.png")
    ap.add_argument("--train-pages", type=int, default=250)
    ap.add_argument("--held-docs", type=int, default=8)
    ap.add_argument("--held-chars", type=int, default=1200)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=None, help="default 1e-3; with --recipe, the recipe's")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))  # the machine is shared: respect the caller's limit
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if a.recipe:
        return recipe_mode(a)
    if not (a.model and a.manpages):
        ap.error("--model and --manpages are needed without --recipe")

    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.eval.perplexity import evaluate_perplexity
    from pintsize.model.checkpoint import load_model
    from pintsize.tokenizer.load import load_tokenizer
    from pintsize.tokenizer.train import train_tokenizer
    from pintsize.tokenizer.transfer import TransferConfig, transfer_tokenizer

    pages = sorted(Path(a.manpages).glob("man1/*.gz"))
    train_jsonl = work / "de-train.jsonl"
    if not train_jsonl.exists():
        texts = [render(p) for p in pages[: a.train_pages + a.held_docs]]
        held = [t[: a.held_chars] for t in texts[a.train_pages :]]
        train_jsonl.write_text("".join(json.dumps({"text": t, "source": "manpages-de"}) + "\n" for t in texts[: a.train_pages]))
        (work / "de-held.json").write_text(json.dumps(held))
    held_de = [t[: a.held_chars] for t in json.loads((work / "de-held.json").read_text())][: a.held_docs]
    held_en = [d["text"][: a.held_chars] for d in pydoc_documents(limit=200)[-a.held_docs :]]
    train_de = [json.loads(l)["text"] for l in train_jsonl.read_text().splitlines()]
    tok_dir = work / "de-tokenizer"
    if not tok_dir.exists():
        train_tokenizer(train_jsonl, tok_dir, a.vocab)

    def bpb(model, tok, texts):
        return evaluate_perplexity(model.eval(), tok, texts, seq_len=a.seq, stride=a.seq, batch_size=4).bits_per_byte

    def tokens_per_byte(tok, texts):
        return sum(len(tok.encode(t, add_special_tokens=False)) for t in texts) / sum(len(t.encode()) for t in texts)

    old_tok, new_tok = load_tokenizer(a.model), load_tokenizer(tok_dir)
    rows, t0 = [], time.time()
    result = {"tokens_per_byte": {"old": tokens_per_byte(old_tok, held_de), "new": tokens_per_byte(new_tok, held_de)},
              "tokens_per_byte_en": {"old": tokens_per_byte(old_tok, held_en), "new": tokens_per_byte(new_tok, held_en)}}
    base = load_model(a.model)
    rows.append({"init": "original tokenizer", "steps": 0, "de_bpb": bpb(base, old_tok, held_de), "en_bpb": bpb(base, old_tok, held_en)})
    print(rows[-1], f"{time.time() - t0:.0f}s", flush=True)
    del base

    # the training stream: German train text under the new tokenizer, cut into fixed blocks
    stream = [i for t in train_de for i in [new_tok.bos_token_id, *new_tok.encode(t, add_special_tokens=False)]]
    blocks = torch.tensor(stream[: (len(stream) // (a.seq + 1)) * (a.seq + 1)]).view(-1, a.seq + 1)
    for init in ("random", "mean", "focus"):
        out = work / f"smol-{init}"
        if not out.exists():
            counts = transfer_tokenizer(a.model, tok_dir, out, TransferConfig(init=init), corpus=train_jsonl if init == "focus" else None)
            print(init, counts, flush=True)
        model = load_model(out)
        row0 = {"init": init, "steps": 0, "de_bpb": bpb(model, new_tok, held_de), "en_bpb": bpb(model, new_tok, held_en)}
        rows.append(row0)
        print(row0, f"{time.time() - t0:.0f}s", flush=True)
        # phase 1 of the recipe (embeddings warm-up): only the (tied) embedding matrix trains
        for p in model.parameters():
            p.requires_grad_(False)
        model.tok_emb.weight.requires_grad_(True)
        opt = torch.optim.AdamW([model.tok_emb.weight], lr=a.lr or 1e-3, weight_decay=0.0)
        model.train()
        g = torch.Generator().manual_seed(0)
        for step in range(a.steps):
            batch = blocks[torch.randint(len(blocks), (a.batch,), generator=g)]
            loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1)[:, : len(new_tok)], batch[:, 1:].flatten())
            loss.backward()
            opt.step()
            opt.zero_grad()
        rows.append({"init": init, "steps": a.steps, "de_bpb": bpb(model, new_tok, held_de), "en_bpb": bpb(model, new_tok, held_en)})
        print(rows[-1], f"{time.time() - t0:.0f}s", flush=True)
        del model, opt
    result.update(rows=rows, budget_tokens=a.steps * a.batch * a.seq, args=vars(a), wall_s=time.time() - t0)
    (work / "adapt_language.json").write_text(json.dumps(result, indent=2))
    print("\n| init | steps | held-out German bits/byte | English (stdlib docs) bits/byte |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['init']} | {r['steps']} | {r['de_bpb']:.3f} | {r['en_bpb']:.3f} |")
    print(json.dumps(result))


def recipe_mode(a) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from adapt_recipe_experiment import focus_proxy, plot, run_inits

    t0 = time.time()
    if a.collect_only:  # the figures of runs already made (e.g. after an interrupted experiment, or in parallel)
        from adapt_recipe_experiment import BENCH_JSON, collect

        results = {i: json.loads((Path(a.work) / i / BENCH_JSON).read_text()) if (Path(a.work) / i / BENCH_JSON).is_file()
                   else collect(Path(a.work) / i) for i in a.inits if (Path(a.work) / i / "adapt_eval" / "manifest.json").is_file()}
    else:
        results = run_inits(a)
    proxy = focus_proxy(a, a.proxy_held) if "focus" in a.inits and a.proxy_held else {}
    plot(results, Path(a.plot), a.freeze)
    out = {"args": vars(a), "inits": results, "focus_proxy": proxy, "wall_s": round(time.time() - t0, 1)}
    (Path(a.work) / "adapt_recipe.json").write_text(json.dumps(out, indent=2))
    first = next(iter(results.values()))["adapt_eval"]
    base = first["rows"][0]
    print(f"held-out German {first['bytes']['new']:,} bytes, English {first['bytes']['old']:,} bytes")
    print("\n| start | tokens/byte German | tokens/byte English | German bpb: 0 steps | warm-up | end "
          "| English bpb: 0 steps | warm-up | end |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| original model and tokenizer | {base['new_tokens_per_byte']:.3f} | {base['old_tokens_per_byte']:.3f} "
          f"| {base['new_bpb']:.3f} | - | - | {base['old_bpb']:.3f} | - | - |")
    for init, r in results.items():
        z, f = r["adapt_eval"]["rows"][1], r["adapt_eval"]["rows"][2]
        w = r.get("warmup") or {"new_bpb": float("nan"), "old_bpb": float("nan")}
        print(f"| {init} | {z['new_tokens_per_byte']:.3f} | {z['old_tokens_per_byte']:.3f} | {z['new_bpb']:.3f} | {w['new_bpb']:.3f} "
              f"| {f['new_bpb']:.3f} | {z['old_bpb']:.3f} | {w['old_bpb']:.3f} | {f['old_bpb']:.3f} |")
    for init, r in results.items():
        print(init, "transfer rows:", r["transfer"], "usage:" if "extend_usage" in r else "", r.get("extend_usage", ""))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
