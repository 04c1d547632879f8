"""`pintsize dpo`: preference alignment with DPO's sigmoid loss (see `dpo_objective`).

Pairs (`pintsize.data.preference`) are rendered with the model's chat template, their replies
masked as the only targets, and split into training and held-out pairs. The reference model is
the starting model: with `reference = "cached"` (the default) its log-probabilities of every
pair are computed once, before training, and saved in the stage's working directory
(`reference_logps.npy`), so a resumed run reads them back instead of recomputing; with
"frozen" a frozen copy computes them alongside the policy (a second model in memory, no pass
before training). The held-out pairs are the validation set: the objective reports the reward
margin and preference accuracy with the loss (`val_reward_margin`, `val_accuracy` in
metrics.jsonl). `data/report.json` and `data/rejects.jsonl` say what became of every input
record; the counts are also the manifest's `stats.data`.

A micro-batch is [dpo].micro_batch_size pairs and a step global_batch_tokens / seq_len pairs (32
x 2048 tokens: the report's batch of 32). Warm-up is warmup_ratio of the run unless
[dpo.optimizer].warmup_steps is set; the run makes [dpo].epochs passes over the training pairs
unless max_steps or max_tokens is set.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pintsize.artifacts import atomic_write_bytes
from pintsize.data.chat_tokens import ChatEncoder
from pintsize.data.json_records import DataReport
from pintsize.data.preference import EncodedPair, PreferencePair, encode_pairs, fit_pair, read_pairs
from pintsize.errors import RecipeError
from pintsize.recipe import Recipe
from pintsize.train.config import DPOConfig
from pintsize.train.distributed import DistEnv
from pintsize.train.dpo_data import PairBatches, finite_batches, pair_logps, share
from pintsize.train.dpo_objective import DPOObjective, FrozenReference
from pintsize.train.posttrain import (
    StartModel,
    check_length,
    data_inputs,
    data_stats,
    encode_records,
    epoch_steps,
    split_heldout,
    start_model,
    work_dir,
)
from pintsize.train.stage import TrainingStage, run_training_stage

DATA_DIR = "data"
REFERENCE_FILE = "reference_logps.npy"


@dataclass
class DPOData:
    train: list[EncodedPair]
    heldout: list[EncodedPair]
    report: DataReport

    @property
    def pairs(self) -> list[EncodedPair]:
        """Training pairs then held-out pairs: the rows of the reference cache."""
        return self.train + self.heldout


def prepare_dpo_data(config: DPOConfig, tokenizer) -> DPOData:
    """Read, check, encode and split the preference pairs of [dpo].data."""
    encoder = ChatEncoder(tokenizer)
    report = DataReport()

    def encode(pairs: list[PreferencePair]) -> list[EncodedPair]:
        return encode_pairs(encoder, pairs)

    def fit(pair: EncodedPair) -> tuple[EncodedPair, bool]:
        return fit_pair(pair, config.seq_len, config.truncation)

    pairs = encode_records(read_pairs(config.data), encode, fit, report, "dpo")
    train, heldout = split_heldout(pairs, config.val_fraction, config.seed, "dpo", report)
    return DPOData(train, heldout, report)


def with_schedule(config: DPOConfig, n_pairs: int) -> DPOConfig:
    """The run's length in steps (from epochs) and its warm-up (from warmup_ratio)."""
    from pintsize.train.trainer import total_steps

    pairs_per_step = max(1, config.global_batch_tokens // config.seq_len)
    config = epoch_steps(config, config.epochs, n_pairs, pairs_per_step)
    if "warmup_steps" in config.optimizer.model_fields_set:
        return config
    warmup = round(config.warmup_ratio * total_steps(config, "dpo"))
    return config.model_copy(update={"optimizer": config.optimizer.model_copy(update={"warmup_steps": warmup})})


def reference_logps(
    path: Path, pairs: list[EncodedPair], start: StartModel, weights: dict, config: DPOConfig, env: DistEnv, pad_id: int
) -> np.ndarray:
    """[N, 2] reference log-probabilities (chosen, rejected) of `pairs`, read from `path` or
    computed (each rank its share, summed across ranks) and saved there by rank 0."""
    from pintsize.model.checkpoint import build_model
    from pintsize.train.parallelize import autocast_context, resolve_precision

    if env.all_true(path.is_file()):
        cached = np.load(path)
        if cached.shape == (len(pairs), 2):
            return cached
    model = build_model(start.config, weights, str(start.weights_file), device=env.device).eval()
    precision = resolve_precision(config.precision, env.device)
    mine = pair_logps(
        model,
        finite_batches(pairs, None, config.micro_batch_size, env.rank, env.world_size, pad_id, config.seq_len),
        env.device,
        lambda: autocast_context(precision, env.device, sharded=False),
    )
    del model
    if env.device.type == "cuda":
        torch.cuda.empty_cache()  # the reference copy is gone; give its memory back before training
    full = torch.zeros(len(pairs), 2, dtype=torch.float32, device=env.device)
    rows = [i for part in share(len(pairs), config.micro_batch_size, env.rank, env.world_size) for i in part]
    full[rows] = torch.from_numpy(mine).to(env.device)
    result = env.all_reduce(full).cpu().numpy()
    if env.is_main:
        buf = io.BytesIO()
        np.save(buf, result)
        atomic_write_bytes(path, buf.getvalue())
    env.barrier()
    return result


def run_dpo(recipe: Recipe, model: Path, out: Path, device: str | None = None) -> Path:
    """Align `model` (a model dir or a training-stage artifact) on the pairs of [dpo].data; write
    a training-stage artifact at `out`. Rerunning the same command resumes an interrupted run."""
    from pintsize.tokenizer import TokenizerInfo, load_tokenizer

    cfg = recipe.dpo
    if cfg is None:
        raise RecipeError("the recipe has no [dpo] section")
    inputs = data_inputs(cfg.data, "dpo")
    start = start_model(model, "dpo")
    check_length(cfg, start.config, "dpo")
    data = prepare_dpo_data(cfg, load_tokenizer(start.tokenizer_dir))
    run_cfg = with_schedule(cfg, len(data.train))
    info = TokenizerInfo.read(start.tokenizer_dir)
    pad_id = info.eos_id if info.pad_id is None else info.pad_id
    work = work_dir(Path(out))
    weights = start.weights()

    @functools.cache
    def prepared(env: DistEnv) -> np.ndarray | None:
        """Once per run: the data report written, and the cached reference log-probabilities."""
        if env.is_main:
            data.report.write(work / DATA_DIR)
        if cfg.reference != "cached":
            return None
        return reference_logps(work / REFERENCE_FILE, data.pairs, start, weights, cfg, env, pad_id)

    def train_data(env: DistEnv) -> PairBatches:
        logps = prepared(env)
        train_ref = None if logps is None else logps[: len(data.train)]
        return PairBatches(data.train, train_ref, cfg.micro_batch_size, env.rank, env.world_size, cfg.seed, pad_id, cfg.seq_len)

    def val_data(env: DistEnv):
        logps = prepared(env)
        if not data.heldout:
            return None
        heldout_ref = None if logps is None else logps[len(data.train) :]
        return lambda: finite_batches(
            data.heldout, heldout_ref, cfg.micro_batch_size, env.rank, env.world_size, pad_id, cfg.seq_len
        )

    frozen = FrozenReference(start.config, weights, cfg.precision) if cfg.reference == "frozen" else None
    objective = DPOObjective(cfg.beta, frozen)
    stage = TrainingStage(
        stage="dpo",
        config=run_cfg,
        model_config=start.config,
        objective=objective,
        train_data=train_data,
        val_data=val_data,
        out=Path(out),
        inputs={"model": start.lineage, **inputs},
        artifact_config={"model": start.config.model_dump(mode="json"), "dpo": cfg.model_dump(mode="json")},
        init_state=weights,
        init_source=str(start.weights_file),
        tokenizer_dir=start.tokenizer_dir,
        stats={"data": data_stats(data.report, data.train, data.heldout)},
    )
    return run_training_stage(stage, device)
