"""`pintsize run` on an [adapt] recipe with a tiny model: curate German manual pages, a new
tokenizer (trained, or the model's own extended), the transfer, pretraining from the transferred
model with the embeddings warm-up, and held-out bits per byte in the new and the old domain."""

import glob
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pintsize.errors import RecipeError
from pintsize.pipeline.run import plan, run
from pintsize.recipe import parse_recipe
from pintsize.train.phases import is_embedding

torch.set_num_threads(1)

ADAPT_STAGES = ["curate", "tokenizer", "transfer", "pack", "pretrain", "eval", "adapt_eval"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """An 'English' tiny model: a BPE trained on the stdlib docs and a random 1-layer Llama."""
    from pintsize.data.docs_chat import write_jsonl
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.model.checkpoint import save_model
    from pintsize.model.config import ModelConfig
    from pintsize.model.llama import Llama
    from pintsize.tokenizer.train import train_tokenizer

    root = tmp_path_factory.mktemp("base")
    write_jsonl(pydoc_documents(limit=40), root / "en.jsonl")
    tok = train_tokenizer(root / "en.jsonl", root / "tok", vocab_size=512)
    torch.manual_seed(0)
    cfg = ModelConfig(name="en", vocab_size=512, n_layer=1, d_model=32, n_head=2, n_kv_head=1, d_ff=64, block_size=64)
    return save_model(Llama(cfg), cfg, root / "model", tokenizer_dir=tok)


@pytest.fixture(scope="module")
def german(tmp_path_factory) -> Path:
    pages = sorted(glob.glob("/usr/share/man/de/man1/*.gz"))[:16]
    if len(pages) < 8 or shutil.which("groff") is None:
        pytest.skip("needs German manual pages (/usr/share/man/de) and groff, as a Debian system has")
    root = tmp_path_factory.mktemp("de")
    for p in pages:
        shutil.copy(p, root)
    return root


def adapt_recipe(out: Path, base: Path, german: Path, **over) -> dict:
    steps = 3
    d = {
        "run": {"name": "adapt", "out_dir": str(out)},
        "adapt": {"base": str(base), "init": "mean", "eval_documents": 2, "eval_chars": 400, "eval_seq_len": 64},
        "data": {"sources": [{"name": "de", "path": str(german / "*.gz"), "format": "man", "profile": "docs"}],
                 # (the heuristics' German word tokenizer takes longer to import than the rest of the run)
                 "language": {"languages": ["de"]}, "heuristics": {"enabled": False}},
        "tokenizer": {"kind": "train", "vocab_size": 512},
        "pack": {"val_fraction": 0.2},
        "pretrain": {"seq_len": 64, "micro_batch_size": 2, "global_batch_tokens": 128, "max_steps": steps,
                     "freeze_until_step": steps, "precision": "fp32", "val_every": steps, "val_tokens": 512,
                     "ckpt_every": steps, "log_every": 1, "optimizer": {"lr": 3e-3, "warmup_steps": 0}},
        "eval": {"perplexity": False, "samples": ["Die Handbuchseite beschreibt"], "samples_max_new_tokens": 4},
        "export": {"hf": False, "gguf": False},
    }
    for k, v in over.items():
        d[k] = {**d[k], **v}
    return d


@pytest.fixture(scope="module")
def adapted_run(tmp_path_factory, base, german) -> tuple[Path, str]:
    """The run's artifacts, and what the run printed."""
    from pintsize.pipeline.run import console

    out = tmp_path_factory.mktemp("run") / "adapt"
    with console.capture() as printed:
        run(parse_recipe(adapt_recipe(out, base, german)), report=False)
    return out, printed.get()


@pytest.fixture(scope="module")
def adapted(adapted_run) -> Path:
    return adapted_run[0]


def test_the_reports_lineage_names_orders_and_times_the_stages_as_the_run_printed_them(adapted_run):
    """The lineage table named the transfer stage `tokenizer-transfer` (the artifact's kind), put it
    last, and gave each stage the time its artifact took to write (0.9 s for a quality stage the run
    had printed as 68.2 s)."""
    import re

    from pintsize.report.html import stage_dirs
    from pintsize.report.lineage_section import lineage_section

    out, printed = adapted_run
    done = re.findall(r"^(\w+) done in ([\d.]+)s$", printed, flags=re.M)
    assert [name for name, _ in done] == ADAPT_STAGES
    table = lineage_section(stage_dirs(out), out)
    rows = re.findall(r"<tr><td>(\w+)( <span class='muted'>\([\w-]+\)</span>)?</td>.*?<td class='num'>([\d.]+)s</td><td>\d{4}-", table)
    assert [(name, time) for name, _, time in rows] == done
    assert dict((name, kind) for name, kind, _ in rows)["transfer"] == " <span class='muted'>(tokenizer-transfer)</span>"


def test_every_adapt_stage_runs_and_both_domains_are_measured(adapted, base, german):
    for stage in ADAPT_STAGES:
        assert (adapted / stage / "manifest.json").is_file(), stage
    kept = json.loads((adapted / "curate" / "stats.json").read_text())["sources"]["de"]["kept"]
    assert kept >= 8  # the German pages survive language ID and the filters
    rows = json.loads((adapted / "adapt_eval" / "results.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["base (old tokenizer)", "transferred, 0 steps", "after pretraining"]
    assert all(math.isfinite(r[k]) and r[k] > 0 for r in rows for k in ("new_bpb", "old_bpb"))
    # the German BPE splits held-out German into fewer tokens than the English one, English into more
    assert rows[1]["new_tokens_per_byte"] < rows[0]["new_tokens_per_byte"]
    assert rows[1]["old_tokens_per_byte"] > rows[0]["old_tokens_per_byte"]
    # the adapted model was pretrained, not chat-tuned: it continues the sample prompt as text
    sample = json.loads((adapted / "eval" / "results.json").read_text())["samples"][0]
    assert sample["chat"] is False and sample["finish_reason"] in ("length", "stop")
    # a rerun has nothing to do
    assert {s.action for s in plan(parse_recipe(adapt_recipe(adapted, base, german)))} <= {"skip", "off"}


def test_pretraining_starts_from_the_transfer_and_the_warm_up_trains_only_embeddings(adapted):
    manifest = json.loads((adapted / "pretrain" / "manifest.json").read_text())
    assert Path(manifest["inputs"]["init"]["path"]).resolve() == (adapted / "transfer").resolve()
    before = load_file(str(adapted / "transfer" / "model.safetensors"))
    after = load_file(str(adapted / "pretrain" / "model" / "model.safetensors"))
    assert before.keys() == after.keys()
    for name in before:  # freeze_until_step = max_steps: the whole run is the warm-up
        assert torch.equal(before[name], after[name]) != is_embedding(name), name


def test_extend_keeps_every_old_token_and_the_run_goes_through(tmp_path, adapted, base, german):
    out = tmp_path / "extend"
    d = adapt_recipe(out, base, german, tokenizer={"kind": "extend", "add": 40}, run={"reuse": {"curate": str(adapted / "curate")}})
    run(parse_recipe(d), report=False)
    stats = json.loads((out / "transfer" / "manifest.json").read_text())["stats"]
    assert stats["shared"] == 512 and stats["vocab_size"] == 512 + stats["mean"] + stats["random"] > 512
    assert (out / "adapt_eval" / "results.json").is_file()


def test_extend_without_adapt_is_one_line():
    with pytest.raises(RecipeError, match=r"^<recipe>: \[tokenizer\] kind = 'extend' extends the tokenizer of the \[adapt\]\.base model; the recipe has no \[adapt\]$"):
        parse_recipe({"tokenizer": {"kind": "extend"}})


def test_model_and_tokenizer_of_different_sizes_is_one_line(base):
    from pintsize.train.pretrain import resolve_model

    recipe = parse_recipe({"pretrain": {"init_from": str(base), "max_steps": 1}})
    with pytest.raises(RecipeError, match=r"model has 512 token embeddings but the run's tokenizer has 700 tokens; give the model this tokenizer first"):
        resolve_model(recipe, 700)


def test_a_missing_base_model_stops_the_run_before_it_starts(tmp_path, german):
    from pintsize.errors import PintsizeError

    recipe = parse_recipe(adapt_recipe(tmp_path / "run", tmp_path / "nowhere", german))
    with pytest.raises(PintsizeError, match=r"nothing was run.*\n  - .*nowhere: no such file or directory, given as \[adapt\]\.base"):
        run(recipe, dry_run=True)


def test_the_report_shows_both_domains(adapted):
    from pintsize.report.html import write_report

    page = write_report(adapted, adapted.parent / "report.html").read_text()
    rows = json.loads((adapted / "adapt_eval" / "results.json").read_text())["rows"]
    assert "<h2>Adaptation: new and old domain" in page
    assert all(f"<td>{r['model']}</td>" in page and f"{r['old_bpb']:,.4g}" in page for r in rows)
