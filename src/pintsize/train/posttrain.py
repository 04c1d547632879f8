"""What SFT and DPO share: the model they continue, its tokenizer, the stage's working directory,
encoding and splitting the data with an account of every record, and the length of a run given
in epochs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np
import torch
from safetensors.torch import load_file

from pintsize.artifacts import MANIFEST, PARTIAL_SUFFIX
from pintsize.data.json_records import BUILTIN, DataReport, Invalid, Rejected
from pintsize.data.pack import validation_size
from pintsize.errors import CheckpointError, DataError, RecipeError
from pintsize.model.checkpoint import WEIGHTS_FILE, load_config, resolve_model_dir, tokenizer_path
from pintsize.model.config import ModelConfig
from pintsize.train.config import TrainConfig
from pintsize.train.stage import MODEL_DIR


@dataclass(frozen=True)
class StartModel:
    """The model a post-training stage continues."""

    model_dir: Path
    lineage: Path  # what the stage records as its input: the training-stage artifact when there is one
    config: ModelConfig
    tokenizer_dir: Path

    @property
    def weights_file(self) -> Path:
        return self.model_dir / WEIGHTS_FILE

    def weights(self) -> dict[str, torch.Tensor]:
        return load_file(str(self.weights_file))


def start_model(path: str | Path, section: str) -> StartModel:
    """A model directory, or a training-stage artifact holding one in `model/`; it must carry
    the tokenizer whose chat template formats the data."""
    model_dir = resolve_model_dir(path, f"the model to start [{section}] from")
    tokenizer = tokenizer_path(model_dir)
    if tokenizer is None:
        raise CheckpointError(f"{model_dir}: the model has no tokenizer/ ; [{section}] needs its chat template")
    stage = model_dir.parent if model_dir.name == MODEL_DIR and (model_dir.parent / MANIFEST).is_file() else model_dir
    return StartModel(model_dir, stage, load_config(model_dir), tokenizer)


def check_length(config: TrainConfig, model: ModelConfig, section: str) -> None:
    if config.seq_len > model.block_size:
        raise RecipeError(f"[{section}].seq_len ({config.seq_len}) is longer than the model's context ({model.block_size})")


def work_dir(out: Path) -> Path:
    """The stage's working directory (`ArtifactWriter`'s partial directory): what is written
    there survives a crash for the resumed run and ends up in the artifact."""
    return out.with_name(out.name + PARTIAL_SUFFIX)


def data_inputs(entries: list[str], section: str) -> dict[str, Path]:
    """The data files of a stage, as artifact inputs (hashed into its fingerprint)."""
    if not entries:
        raise RecipeError(
            f"[{section}].data is empty: list JSONL/Parquet files or folders (or a builtin: data set), "
            f"or leave out the [{section}] section"
        )
    return {f"data/{i}": Path(e) for i, e in enumerate(entries) if not e.startswith(BUILTIN)}


def epoch_steps(config: TrainConfig, epochs: int, units_per_epoch: int, units_per_step: int) -> TrainConfig:
    """`config` with max_steps set to cover `epochs` passes, unless max_steps or max_tokens says otherwise."""
    if config.max_steps is not None or config.max_tokens is not None:
        return config
    return config.model_copy(update={"max_steps": max(1, math.ceil(epochs * units_per_epoch / units_per_step))})


Item = TypeVar("Item")
Encoded = TypeVar("Encoded")
ENCODE_BATCH = 512  # records tokenized together (the fast tokenizer's batch encoder)


def encode_records(
    items: Iterator[Item | Rejected],
    encode: Callable[[list[Item]], list[Encoded]],
    fit: Callable[[Encoded], tuple[Encoded, bool]],
    report: DataReport,
    section: str,
) -> list[Encoded]:
    """Encode the usable records and fit them to the maximum length (`fit` returns the result and
    whether it was cut, or raises Invalid); every record is counted in `report`. A live count is
    shown on rank 0 when stderr is a terminal."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    console = Console(stderr=True)
    shown = console.is_terminal and os.environ.get("RANK", "0") == "0"
    columns = (SpinnerColumn(), TextColumn(f"[bold]{section}[/] data: {{task.completed:,}} records read"))
    kept: list[Encoded] = []
    with Progress(*columns, console=console, disable=not shown, transient=True) as progress:
        task = progress.add_task("read", total=None)
        while chunk := list(islice(items, ENCODE_BATCH)):
            progress.advance(task, len(chunk))
            good = []
            for item in chunk:
                report.records += 1
                if isinstance(item, Rejected):
                    report.reject(item)
                else:
                    good.append(item)
            for item, enc in zip(good, encode(good)):
                try:
                    enc, truncated = fit(enc)
                except Invalid as e:
                    report.skip(item.where, str(e))
                    continue
                report.truncated += truncated
                report.kept += 1
                kept.append(enc)
    return kept


def data_stats(report: DataReport, train: list, heldout: list) -> dict:
    """What became of the input records (as in `data/report.json`) and how the kept ones were
    split, for the artifact manifest's stats."""
    return {**report.to_dict(), "train": len(train), "heldout": len(heldout)}


def split_heldout(
    items: list[Encoded], fraction: float, seed: int, section: str, report: DataReport
) -> tuple[list[Encoded], list[Encoded]]:
    """(train, held out): a seeded shuffle, then the first `fraction` (at least one, never all) held out."""
    if not items:
        reasons = {**report.skipped, **report.quarantined}
        raise DataError(f"[{section}].data: nothing usable in {report.records} records ({dict(reasons) or 'no records'})")
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = validation_size(len(items), fraction)
    return [items[i] for i in order[n_val:]], [items[i] for i in order[:n_val]]
