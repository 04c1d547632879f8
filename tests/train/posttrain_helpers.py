"""Shared by the SFT and DPO tests: a byte-level BPE trained on the stdlib documentation, a tiny
random model that carries it, and recipes sized for a 2-core CPU."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pintsize.model.checkpoint import save_model
from pintsize.model.config import ModelConfig
from pintsize.model.llama import Llama
from pintsize.recipe import Recipe, parse_recipe
from toml_writer import write_toml

SEQ = 128


def bpe_tokenizer(out: Path) -> Path:
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer.hf_files import save_hf_tokenizer
    from pintsize.tokenizer.train import train_bpe_backend

    out.mkdir(parents=True)
    save_hf_tokenizer(train_bpe_backend((d["text"] for d in pydoc_documents(limit=40)), 1024), out)
    return out


def tiny_model(out: Path, tokenizer: Path, seed: int = 0) -> Path:
    from pintsize.tokenizer import TokenizerInfo

    cfg = ModelConfig(
        name="tiny-chat", vocab_size=TokenizerInfo.read(tokenizer).vocab_size,
        n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=160, block_size=256,
    )
    torch.manual_seed(seed)
    return save_model(Llama(cfg), cfg, out, tokenizer_dir=tokenizer)


def train_section(**overrides) -> dict:
    base = dict(
        seq_len=SEQ, micro_batch_size=4, global_batch_tokens=8 * SEQ, precision="fp32",
        log_every=5, val_every=10, ckpt_every=1000, val_tokens=64 * SEQ,
        optimizer=dict(lr=3e-3, min_lr=3e-4, warmup_steps=5),
    )
    return {**base, **overrides}


def recipe(root: Path, **sections) -> Recipe:
    return parse_recipe({"run": {"name": "posttrain-test", "out_dir": str(root)}, **sections})


def write_recipe(path: Path, **sections) -> Path:
    """The same recipe as TOML, for the CLI."""
    return write_toml(path, sections)


def metrics(artifact: Path, key: str) -> dict[int, float]:
    rows = [json.loads(line) for line in (artifact / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in rows if key in r}


def crash_at_step(run_stage, step: int) -> None:
    """Run a stage with a simulated crash when the trainer reaches `step`; the crash must surface."""
    import pytest

    from pintsize.train.trainer import Trainer

    launch_step = Trainer.launch_step

    def crashing(self, batches):
        if self.step == step:
            raise RuntimeError("simulated crash")
        return launch_step(self, batches)

    Trainer.launch_step = crashing
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            run_stage()
    finally:
        Trainer.launch_step = launch_step


def resumed_at(artifact: Path) -> list[int]:
    """The steps a stage resumed from, as its metrics.jsonl records them."""
    events = [json.loads(line) for line in (artifact / "metrics.jsonl").read_text().splitlines()]
    return [e["step"] for e in events if e.get("event") == "resumed"]
