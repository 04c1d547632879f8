"""Resumable training checkpoints: `checkpoints/step-NNNNNNN/`.

Each holds the model and optimizer as a `torch.distributed.checkpoint` (sharded: every rank
writes its own shard, and a checkpoint can be read back with any sharding), `trainer.json`
(step, tokens, divergence-guard state) and one `rank-RRRRR.pt` per rank (that rank's loader
position and RNG states).

A save is atomic: everything is written under `step-NNNNNNN.tmp/` and renamed only when every
rank has finished, so a kill during a save leaves the previous checkpoint untouched and the
`.tmp` directory is ignored (and removed) by the next run. Every rank writes into the same
directory, so a run over several nodes needs a filesystem they share.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pintsize.artifacts import atomic_write_json
from pintsize.errors import CheckpointError
from pintsize.train.distributed import DistEnv

TRAINER_FILE = "trainer.json"
_STEP_DIR = re.compile(r"^step-(\d{7})$")


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:07d}"


def step_of(ckpt: Path) -> int:
    """The step a finished checkpoint directory was written at."""
    return int(_STEP_DIR.match(ckpt.name).group(1))


def rank_file(ckpt: Path, rank: int) -> Path:
    return ckpt / f"rank-{rank:05d}.pt"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Finished checkpoints under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(found)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def _quiet_single_process():
    """DCP warns on every call that it runs without a process group; one process is intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


@dataclass
class CheckpointManager:
    root: Path
    env: DistEnv
    keep_last: int

    def save(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, trainer_state: dict, data_state: dict) -> Path:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        final = step_dir(self.root, step)
        tmp = final.with_name(final.name + ".tmp")
        if self.env.is_main:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        self.env.barrier()
        model_sd, optim_sd = get_state_dict(model, optimizer)
        with _quiet_single_process():
            dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp))
        torch.save({"data": data_state, "rng": rng_state(), "world_size": self.env.world_size}, rank_file(tmp, self.env.rank))
        self.env.barrier()
        if self.env.is_main:
            atomic_write_json(tmp / TRAINER_FILE, {**trainer_state, "step": step, "world_size": self.env.world_size})
            if final.exists():  # a rerun that reaches the same step again
                shutil.rmtree(final)
            tmp.rename(final)
            self._prune()
        self.env.barrier()
        return final

    def _prune(self) -> None:
        for _, path in list_checkpoints(self.root)[: -self.keep_last]:
            shutil.rmtree(path, ignore_errors=True)

    def latest(self) -> Path | None:
        """The newest finished checkpoint; leftovers of an interrupted save are removed."""
        if self.env.is_main and self.root.is_dir():
            for p in self.root.glob("step-*.tmp"):
                shutil.rmtree(p, ignore_errors=True)
        self.env.barrier()
        found = list_checkpoints(self.root)
        return found[-1][1] if found else None

    def load(self, ckpt: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
        """Restore model, optimizer and this rank's RNG states; returns (trainer state, data state)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        try:
            trainer_state = json.loads((ckpt / TRAINER_FILE).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{ckpt}: unreadable {TRAINER_FILE} ({e})") from e
        if trainer_state["world_size"] != self.env.world_size:
            raise CheckpointError(
                f"{ckpt}: saved by {trainer_state['world_size']} processes but resumed with {self.env.world_size}; "
                "the loader position and RNG states are per process, so resume with the same number of processes"
            )
        model_sd, optim_sd = get_state_dict(model, optimizer)
        state = {"model": model_sd, "optim": optim_sd}
        try:
            with _quiet_single_process():
                dcp.load(state, checkpoint_id=str(ckpt))
        except Exception as e:  # DCP raises assorted errors for missing or mismatched tensors
            raise CheckpointError(f"{ckpt}: cannot load the model/optimizer state: {e}") from e
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
        # Our own file, written by this code: the loader state may hold numpy arrays.
        per_rank = torch.load(rank_file(ckpt, self.env.rank), weights_only=False)
        set_rng_state(per_rank["rng"])
        return trainer_state, per_rank["data"]
