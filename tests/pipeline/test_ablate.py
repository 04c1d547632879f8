"""`pintsize ablate` at CI size: two variants x two seeds of a tiny model on a slice of the stdlib
docs plus a noisy source that holds an HTML copy of every doc (so held-out text has copies to leak
through), checked for its invariants: no held-out text in any variant's training corpus, the
same token budget everywhere, results for every run, table and plot written, a rerun retrains
nothing."""

import html
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.pipeline.ablate.run import Layout, run_ablation
from pintsize.pipeline.ablate.split import is_heldout
from pintsize.recipe import parse_recipe

torch.set_num_threads(1)  # tiny models: a second thread only adds contention on a shared machine

VARIANTS, SEEDS = ["curated", "uncurated"], [1, 2]
FRACTION = 0.25
LICENCE = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
    "associated documentation files, to deal in the Software without restriction. "
)


def _as_html(title: str, text: str) -> str:
    paras = "".join(f'<p class="x">{html.escape(p)}</p>\n' for p in text.split("\n\n") if p.strip())
    return f"<html><head><title>{html.escape(title)}</title></head><body><div class=nav>Home | Index</div>\n{paras}</body></html>"


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablate")
    # modules spread over the alphabet (neighbours such as asyncio.* repeat each other's docs), no codecs (near-copies)
    docs = [d for d in pydoc_documents()[::7] if len(d["text"]) > 1500 and not d["id"].startswith("pydoc:encodings")][:40]
    docs = [{"id": d["id"], "text": d["text"][:5000]} for d in docs]
    with open(root / "docs.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d["text"], "module": d["id"]}) + "\n")
    with open(root / "noisy.jsonl", "w") as f:
        for i, d in enumerate(docs):  # a raw HTML copy of every doc, and licence boilerplate
            f.write(json.dumps({"text": _as_html(d["id"], d["text"]), "copy_of": f"docs/docs.jsonl:{i + 1}"}) + "\n")
            f.write(json.dumps({"text": LICENCE * (1 + i % 3) + f"Package {i}.", "copy_of": ""}) + "\n")
    spec = {
            "run": {"name": "tiny-ablate", "out_dir": str(root / "runs" / "tiny-ablate")},
            "data": {
                "sources": [
                    {"name": "docs", "path": str(root / "docs.jsonl"), "format": "jsonl", "profile": "docs"},
                    {"name": "noisy", "path": str(root / "noisy.jsonl"), "format": "jsonl", "profile": "web"},
                ],
            },
            "tokenizer": {"kind": "train", "vocab_size": 512},
            "model": {"name": "tiny", "n_layer": 1, "d_model": 32, "n_head": 2, "n_kv_head": 1, "d_ff": 64, "block_size": 64},
            "pretrain": {
                "seq_len": 64, "micro_batch_size": 4, "global_batch_tokens": 256, "max_steps": 6, "precision": "fp32",
                "val_every": 100, "ckpt_every": 100, "log_every": 2, "optimizer": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1},
            },
            "ablate": {
                "variants": VARIANTS, "seeds": SEEDS, "heldout_sources": ["docs"], "heldout_fraction": FRACTION,
                "decontam_common_docs": 4, "eval_bytes": 6000, "cloze_items": 24, "cloze_context_chars": 300,
            },
        }
    recipe = parse_recipe(spec)
    out = root / "ablate"
    run_ablation(recipe, out=out)
    heldout = [f"docs/docs.jsonl:{i + 1}" for i in range(len(docs)) if is_heldout(f"docs/docs.jsonl:{i + 1}", FRACTION)]
    return spec, recipe, Layout(out), docs, heldout


def _corpus(path: Path) -> list[dict]:
    rows = []
    for part in sorted((path / "data").glob("part-*.parquet")):
        rows += pq.read_table(part).to_pylist()
    return rows


def test_heldout_text_is_in_no_training_corpus(ablation):
    _, _, layout, docs, heldout = ablation
    assert 3 <= len(heldout) < len(docs)
    held_texts = {d["text"] for i, d in enumerate(docs) if f"docs/docs.jsonl:{i + 1}" in heldout}
    split = [json.loads(x) for x in (layout.split / "heldout" / "docs.jsonl").read_text().splitlines()]
    assert {d["id"] for d in split} == set(heldout)
    for v in VARIANTS:
        rows = _corpus(layout.curate(v))
        assert rows, v
        metas = [json.loads(r["meta"]) for r in rows]
        assert not {m.get("id") for m in metas} & set(heldout), v  # the held-out documents themselves
        assert not {m.get("copy_of") for m in metas} & set(heldout), v  # their HTML copies in the noisy source
        for r in rows:
            assert not any(t[500:800] in r["text"] for t in held_texts), v
    # only copies of held-out text go: the HTML copy of every training document stays in the uncurated input
    kept = {json.loads(x)["id"] for x in (layout.split / "sources" / "docs.jsonl").read_text().splitlines()}
    assert len(kept) >= 15
    uncurated = [json.loads(r["meta"]).get("copy_of") for r in _corpus(layout.curate("uncurated"))]
    assert {c for c in uncurated if c} == kept
    assert sum(1 for c in uncurated if c == "") == len(docs)  # licence boilerplate is not a copy of anything


def test_every_run_has_the_same_budget_and_results(ablation):
    _, recipe, layout, _, _ = ablation
    results = json.loads((layout.out / "results.json").read_text())
    budget = 6 * 256
    assert results["budget_tokens"] == budget
    for v in VARIANTS:
        for s in SEEDS:
            m = json.loads((layout.pretrain(v, s) / "manifest.json").read_text())
            assert m["stats"]["tokens"] == budget and m["config"]["pretrain"]["seed"] == s
            assert m["config"]["model"] == json.loads((layout.pretrain(VARIANTS[0], SEEDS[0]) / "manifest.json").read_text())["config"]["model"]
            assert m["inputs"]["tokenizer"]["hash"] == json.loads((layout.tokenizer / "manifest.json").read_text())["content_hash"]
            r = results["runs"][v][str(s)]
            assert r["train"]["tokens"] == budget and r["train"]["unique_tokens"] > 0
            assert r["train"]["passes"] == pytest.approx(budget / r["train"]["unique_tokens"])
            assert 0 < r["eval"]["heldout"]["bits_per_byte"] < 20
            assert r["eval"]["cloze"]["n"] > 0 and 0 <= r["eval"]["cloze"]["accuracy"] <= 1
            assert results["variants"][v]["seeds"][str(s)]["heldout_bpb"] == r["eval"]["heldout"]["bits_per_byte"]
        assert results["variants"][v]["summary"]["heldout_bpb"]["n"] == len(SEEDS)
    # uncurated keeps more raw text than curated
    assert results["runs"]["uncurated"]["1"]["train"]["unique_tokens"] > results["runs"]["curated"]["1"]["train"]["unique_tokens"]
    [comparison] = results["comparisons"]
    assert comparison["variant"] == "uncurated" and "verdict" in comparison["metrics"]["heldout_bpb"]
    assert (layout.out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (layout.out / "table.txt").read_text()
    assert "held-out BPB" in table and "uncurated" in table
    manifest = json.loads((layout.out / "manifest.json").read_text())
    assert manifest["stage"] == "ablate" and f"{VARIANTS[1]}/seed-{SEEDS[1]}" in manifest["inputs"]


def test_rerun_retrains_nothing(ablation, tmp_path):
    spec, recipe, layout, _, _ = ablation
    finished = {(v, s): json.loads((layout.pretrain(v, s) / "manifest.json").read_text())["finished"] for v in VARIANTS for s in SEEDS}
    scored = {(v, s): layout.result(v, s).read_text() for v in VARIANTS for s in SEEDS}
    result = CliRunner().invoke(app, ["ablate", str(_toml(spec, tmp_path / "r.toml")), "--out", str(layout.out), "--dry-run"])
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if line.startswith("│")]
    actions = {r[0]: r[1] for r in rows if r and r[0]}
    assert len(actions) == 1 + 2 * len(VARIANTS) + 1 + len(VARIANTS) * len(SEEDS) + 1, actions  # + score/table row
    assert all(a == "skip" for step, a in actions.items() if not step.startswith("score")), actions
    run_ablation(recipe, out=layout.out)
    for key, when in finished.items():
        assert json.loads((layout.pretrain(*key) / "manifest.json").read_text())["finished"] == when
        assert layout.result(*key).read_text() == scored[key]
    assert (layout.out / "results.json").is_file()


def test_cli_chooses_variants_and_seeds(ablation, tmp_path):
    spec, _, layout, _, _ = ablation
    args = ["ablate", str(_toml(spec, tmp_path / "r.toml")), "--out", str(layout.out), "--variants", "uncurated", "--seeds", "2,7", "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if line.startswith("│")]
    actions = {r[0]: r[1] for r in rows if r and r[0]}
    assert actions["train uncurated seed 2"] == "skip" and actions["train uncurated seed 7"] == "run"
    assert not any(step.startswith("train curated") for step in actions)
    assert actions["curate curated"] == "skip"  # the reference corpus still trains the shared tokenizer
    bad = CliRunner().invoke(app, ["ablate", str(tmp_path / "r.toml"), "--seeds", "1,x", "--dry-run"])
    assert bad.exit_code != 0


def _toml(spec: dict, path: Path) -> Path:
    """A recipe dict as TOML (JSON scalars and arrays are valid TOML values)."""
    lines: list[str] = []

    def table(name: str, d: dict, array: bool = False) -> None:
        lines.append(f"[[{name}]]" if array else f"[{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in d.items() if not isinstance(v, dict) and not _tables(v))
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)
            elif _tables(v):
                for item in v:
                    table(f"{name}.{k}", item, array=True)

    for name, section in spec.items():
        table(name, section)
    path.write_text("\n".join(lines) + "\n")
    return path


def _tables(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


# ------------------------------------------------------------ the pieces, without training


def test_variants_switch_off_only_their_steps(tmp_path):
    from pintsize.curate.config import DataConfig
    from pintsize.pipeline.ablate.config import VariantName
    from pintsize.pipeline.ablate.variants import VARIANTS, variant_data

    data = DataConfig.model_validate(
        {
            "sources": [{"name": "a", "path": "x/*.html", "format": "text", "html": "trafilatura", "weight": 2.0, "max_tokens": 10}],
            "quality": {"model": "q", "threshold": 0.7},
            "decontamination": {"paths": ["evals"]},
        }
    )
    assert set(VARIANTS) == set(VariantName.__args__)
    curated = variant_data(data, "curated", tmp_path)
    assert curated.sources[0].path == str(tmp_path / "a.jsonl") and curated.sources[0].format == "jsonl"
    assert curated.model_dump(exclude={"sources"}) == data.model_dump(exclude={"sources"})
    raw = variant_data(data, "uncurated", tmp_path)
    assert not (raw.normalize.enabled or raw.language.enabled or raw.heuristics.enabled or raw.pii.enabled)
    assert not (raw.dedup.exact or raw.dedup.near) and raw.quality.model is None
    assert (raw.sources[0].html, raw.sources[0].weight, raw.sources[0].max_tokens) == ("none", 1.0, None)
    assert raw.decontamination.paths == ["evals"]  # benchmark hygiene stays in every variant
    assert variant_data(data, "no_dedup", tmp_path).heuristics.enabled
    assert variant_data(data, "no_quality", tmp_path).quality.model is None
    assert variant_data(data, "no_mixture", tmp_path).sources[0].html == "trafilatura"


@pytest.mark.parametrize(
    "ablate, message",
    [
        ({"variants": ["curated", "raw"]}, "variants"),
        ({"seeds": [1, 1]}, "repeated"),
        ({"seed": [1]}, "unknown key"),
    ],
)
def test_ablate_section_is_checked(ablate, message):
    from pintsize.errors import RecipeError

    with pytest.raises(RecipeError, match=message):
        parse_recipe({"ablate": ablate})


def test_cloze_items_hold_the_true_next_line():
    from pintsize.pipeline.ablate.cloze import build_cloze, score_cloze

    docs = [
        "\n".join(f"Document {d} explains topic number {k} in a sentence of ordinary words." for k in range(30))
        for d in range(6)
    ]
    items = build_cloze(docs, 20, 300, seed=3)
    assert len(items) == 20 and items == build_cloze(docs, 20, 300, seed=3)
    for it in items:
        assert len(set(it["choices"])) == 4 and it["context"].endswith("\n") and len(it["context"]) <= 300
        d = it["context"].split()[1]
        truth = it["choices"][it["gold"]]
        assert truth.startswith(f"Document {d} ") and it["context"] + truth in docs[int(d)]
        assert all(not c.startswith(f"Document {d} ") for i, c in enumerate(it["choices"]) if i != it["gold"])

    class Oracle:  # prefers the gold line: accuracy 1
        def loglikelihood(self, requests, disable_tqdm=False):
            gold = {(it["context"], it["choices"][it["gold"]]) for it in items}
            return [(0.0 if r.args in gold else -100.0, False) for r in requests]

    assert score_cloze(Oracle(), items)["accuracy"] == 1.0


def test_shipped_ablation_recipe_validates():
    from pintsize.recipe import load_recipe

    r = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "ablation.toml")
    assert r.ablate is not None and {"curated", "uncurated"} <= set(r.ablate.variants) and len(r.ablate.seeds) >= 2
    assert set(r.ablate.heldout_sources) <= {s.name for s in r.data.sources}
