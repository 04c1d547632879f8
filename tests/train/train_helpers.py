"""Shared by the engine tests and the scripts they start in subprocesses: real shards made with
the real pipeline (a 512-token BPE and `pack_corpus` on the stdlib documentation), a tiny model
config, and a Trainer fed by the real TokenLoader."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pintsize.model.config import get_config
from pintsize.train.config import PretrainConfig

VOCAB = 512
SEQ = 64


def build_data(root: Path) -> tuple[Path, Path]:
    """60 stdlib modules (every fifth of the first 300, spread over the alphabet) -> a BPE
    tokenizer and shards with a 10% validation split. Returns (shards, tokenizer)."""
    from pintsize.data.config import PackConfig
    from pintsize.data.pack import pack_corpus
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer import build_tokenizer
    from pintsize.tokenizer.config import TokenizerConfig

    corpus = root / "corpus.jsonl"
    docs = pydoc_documents()[:300:5]
    corpus.write_text("".join(json.dumps({"text": d["text"], "source": d["source"]}) + "\n" for d in docs))
    tokenizer = build_tokenizer(TokenizerConfig(kind="train", vocab_size=VOCAB), corpus, root / "tokenizer")
    shards = pack_corpus(corpus, tokenizer, root / "shards", PackConfig(val_fraction=0.1), workers=1, progress=False)
    return Path(shards), Path(tokenizer)


def tiny_model_config(**overrides):
    base = dict(vocab_size=VOCAB, n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=128, block_size=SEQ)
    return get_config("tiny", **{**base, **overrides})


def train_config(**overrides) -> PretrainConfig:
    base = dict(
        seq_len=SEQ,
        micro_batch_size=4,
        global_batch_tokens=4 * SEQ,
        max_steps=20,
        precision="fp32",
        ckpt_every=10,
        keep_last=2,
        val_every=10,
        val_tokens=8 * SEQ,
        log_every=1,
        optimizer=dict(lr=3e-3, min_lr=3e-4, warmup_steps=5),
    )
    return PretrainConfig.model_validate({**base, **overrides})


def recipe_dict(**pretrain) -> dict:
    """A recipe for the tiny model on these shards, as `pintsize pretrain` reads it."""
    return {
        "model": {"name": "tiny", "n_layer": 2, "d_model": 64, "n_head": 4, "n_kv_head": 2, "d_ff": 128, "block_size": SEQ},
        "pretrain": train_config(**pretrain).model_dump(mode="json", exclude_defaults=True),
    }


def write_recipe(path: Path, **pretrain) -> Path:
    """recipe_dict as a TOML file."""
    from toml_writer import write_toml  # tests/, on the path under pytest (tiny_run.py, a script, never writes one)

    return write_toml(path, recipe_dict(**pretrain))


def cpu_env():
    from pintsize.train.distributed import DistEnv

    return DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def make_trainer(run_dir: Path, shards: Path, config: PretrainConfig | None = None, objective=None, data=None):
    """A Trainer on the tiny model, initialized from the config's seed, fed by the TokenLoader."""
    from pintsize.data.loader import TokenLoader, eval_batches
    from pintsize.model.llama import Llama
    from pintsize.train.objective import LMObjective
    from pintsize.train.trainer import Trainer

    config = config or train_config()
    torch.manual_seed(config.seed)
    model = Llama(tiny_model_config())
    if data is None:
        data = TokenLoader(shards, "train", SEQ, config.micro_batch_size, seed=config.seed)
    return Trainer(
        model,
        objective or LMObjective(),
        config,
        cpu_env(),
        run_dir,
        data,
        lambda: eval_batches(shards, "val", SEQ, config.micro_batch_size, max_tokens=config.val_tokens),
        total_steps=config.max_steps,
    )


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def series(run_dir: Path, key: str) -> dict[int, float]:
    """{step: value} of one metric."""
    return {r["step"]: r[key] for r in read_metrics(run_dir) if key in r}
