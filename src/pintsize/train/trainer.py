"""The training engine shared by pretraining, SFT and DPO.

The engine owns the loop: gradient accumulation up to the global batch, the schedule, clipping,
the divergence guard, validation, checkpoints and resume, progress. What is minimized is the
objective's business (`pintsize.train.objective`); where batches come from is the data's
(any iterable of dicts with `state_dict()` / `load_state_dict()`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch import nn

from pintsize.errors import RecipeError
from pintsize.model.masks import flex_document_mask
from pintsize.train.checkpoint import CheckpointManager, step_of
from pintsize.train.config import TrainConfig
from pintsize.train.distributed import DistEnv
from pintsize.train.guard import DivergenceGuard, TrainingDiverged
from pintsize.train.monitor import Monitor, Stamp
from pintsize.train.objective import Objective
from pintsize.train.optim import build_optimizer
from pintsize.train.parallelize import autocast_context, parallelize, resolve_precision
from pintsize.train.phases import set_phase
from pintsize.train.schedule import lr_at
from pintsize.train.stop import StopRequests, TrainingStopped

CHECKPOINTS_DIR = "checkpoints"


class TrainData(Protocol):
    def __iter__(self) -> Iterator[dict]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def grad_accum_steps(config: TrainConfig, world_size: int, section: str) -> int:
    """Micro-batches per optimizer step on each rank, so that a step sees `global_batch_tokens`."""
    per_pass = config.seq_len * config.micro_batch_size * world_size
    if config.global_batch_tokens % per_pass:
        raise RecipeError(
            f"[{section}].global_batch_tokens ({config.global_batch_tokens:,}) must be a multiple of "
            f"seq_len x micro_batch_size x processes ({config.seq_len} x {config.micro_batch_size} x {world_size} "
            f"= {per_pass:,})"
        )
    return config.global_batch_tokens // per_pass


def total_steps(config: TrainConfig, section: str) -> int:
    if config.max_steps is not None:
        return config.max_steps
    if config.max_tokens is not None:
        return math.ceil(config.max_tokens / config.global_batch_tokens)
    raise RecipeError(f"[{section}]: set max_steps or max_tokens (the schedule needs the length of the run)")


@dataclass
class StepResult:
    step: int
    loss: float  # mean over the global batch's units, whether or not the step was applied
    grad_norm: float
    lr: float
    skipped: str = ""  # why the divergence guard skipped the update; empty when applied
    metrics: dict[str, float] = field(default_factory=dict)
    done: Stamp | None = None  # when the device finished the step


@dataclass
class PendingStep:
    """A step queued on the device; `values()` waits for its loss, metrics and guard verdict."""

    step: int
    lr: float
    names: list[str]  # "loss", then the objective's metrics
    values: Callable[[], list[float]]
    done: Stamp | None = None  # when the device finished the step (for throughput)


def _to_host(values: torch.Tensor) -> Callable[[], list[float]]:
    """Start copying a step's scalars to the host; the returned function waits for them."""
    if values.device.type != "cuda":
        return values.tolist
    host = values.to("cpu", non_blocking=True)  # into pinned memory, ordered after the step
    done = torch.cuda.Event()
    done.record()
    return lambda: (done.synchronize(), host.tolist())[1]


class Validation(NamedTuple):
    loss: float  # mean over the validation units
    units: int  # target tokens (LM, SFT) or pairs (DPO)
    metrics: dict[str, float]  # the objective's metrics, means over the same units


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        config: TrainConfig,
        env: DistEnv,
        run_dir: Path,
        train_data: TrainData | None,
        val_data: Callable[[], Iterable[dict]] | None,
        total_steps: int,
        flops_per_token: float | None = None,
        section: str = "pretrain",
        schedule: tuple[int, int] | None = None,
    ):
        """`model` is on `env.device`, built identically on every rank; the trainer applies
        checkpointing, compilation and sharding. `val_data` makes a fresh finite iterable
        (one validation pass; its length is the caller's choice, e.g. `val_tokens`). `schedule`
        = (steps before this run, total steps) makes the learning rate one part of a longer
        schedule (the rounds of an iterative prune); None: this run is the whole schedule."""
        self.config = config
        self.env = env
        self.run_dir = Path(run_dir)
        self.objective = objective
        self.train_data = train_data
        self.val_data = val_data
        self.total_steps = total_steps
        self.schedule_offset, self.schedule_steps = schedule or (0, total_steps)
        self.flops_per_token = flops_per_token
        self.section = section
        self.accum = grad_accum_steps(config, env.world_size, section)
        self.precision = resolve_precision(config.precision, env.device)
        self.model = parallelize(model, env, self.precision, config.compile, config.activation_checkpointing)
        self.optimizer = build_optimizer(self.model, config.optimizer, env.device)
        self.guard = DivergenceGuard(config.spike_threshold, config.max_bad_steps, section, env.device)
        self.checkpoints = CheckpointManager(self.run_dir / CHECKPOINTS_DIR, env, config.keep_last)
        if env.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 for what runs outside bf16 autocast
        # FlexAttention needs compiled kernels to be fast (its eager path materializes the
        # scores), and building its block mask eagerly costs a B x T x T pass per micro-batch.
        self.flex = env.device.type == "cuda" and config.compile and config.document_mask
        self.block_mask = torch.compile(flex_document_mask) if self.flex else None
        self.step = self.start_step = 0
        self.t0 = time.perf_counter()  # reset by fit: the summary's throughput is this session's
        self.skipped_steps = 0
        self.first_nonfinite_step: int | None = None  # named when the final weights are not finite
        self.last_loss: float | None = None
        self.last_val_loss: float | None = None

    def lr_at(self, step: int) -> float:
        return lr_at(self.schedule_offset + step, self.schedule_steps, self.config.optimizer)

    # ------------------------------------------------------------ one step

    def autocast(self):
        return autocast_context(self.precision, self.env.device, sharded=self.env.distributed)

    def prepare(self, batch: dict) -> dict:
        """Move a batch to the device and give it its attention mask: FlexAttention's block mask
        on CUDA when compiling; otherwise the model derives an SDPA boolean mask from
        `positions`. Without the document mask, positions are dropped so attention is plain
        causal over the whole row (flash/cuDNN kernels on a GPU)."""
        pin = self.env.device.type == "cuda"  # a copy from pageable memory would wait for the device
        out = {
            k: (v.pin_memory() if pin else v).to(self.env.device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()
        }
        if not self.config.document_mask:
            out.pop("positions", None)
        elif self.flex and "positions" in out:
            out["attn_mask"] = self.block_mask(out["positions"])
        return out

    def launch_step(self, micro_batches: list[dict]) -> PendingStep:
        """Forward and backward over one global batch, then an update unless the divergence guard
        objects, all queued on the device without waiting for it: the guard judges on the device
        and the fused AdamW skips a bad update there (`found_inf`). `finish` reads the results."""
        if self.config.freeze_until_step:
            set_phase(self.model, self.step + 1, self.config.freeze_until_step)
        batches = [self.prepare(b) for b in micro_batches]
        units = self.env.all_reduce(torch.stack([self.objective.units(b) for b in batches]).sum().float())
        # FSDP averages gradients over ranks; scaling by world/units makes the result the mean
        # over every unit of the global batch.
        scale = self.env.world_size / units.clamp(min=1)
        totals: dict[str, torch.Tensor] = {}
        for b in batches:
            with self.autocast():
                loss, metrics = self.objective(self.model, b)
            (loss * scale).backward()
            for k, v in {"loss": loss, **metrics}.items():
                totals[k] = totals.get(k, 0) + v.detach().float()
        fused = bool(self.optimizer.defaults.get("fused"))
        grad_norm, clip_divisor = self._clip_gradients(fused)
        means = self.env.all_reduce(torch.stack(list(totals.values()))) / units.clamp(min=1)
        bad, recent_mean = self.guard.judge(means[0], grad_norm)

        self.step += 1
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if fused:
            self.optimizer.found_inf = bad
            self.optimizer.grad_scale = clip_divisor
            self.optimizer.step()
        elif not bad.item():  # only the fused AdamW skips on the device; elsewhere the host decides
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        values = torch.cat([means, torch.stack([grad_norm, bad, recent_mean])])
        return PendingStep(self.step, lr, list(totals), _to_host(values), Stamp(self.env.device))

    def finish(self, pending: PendingStep) -> StepResult:
        """Wait for a launched step, let the guard log its verdict (and stop a diverging run)."""
        *means, grad_norm, bad, recent_mean = pending.values()
        loss = means[0]
        if self.first_nonfinite_step is None and not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.first_nonfinite_step = pending.step
        reason = self.guard.record(pending.step, loss, grad_norm, bool(bad), recent_mean)
        if reason:
            self.skipped_steps += 1
        else:
            self.last_loss = loss
        metrics = dict(zip(pending.names[1:], means[1:]))
        return StepResult(pending.step, loss, grad_norm, pending.lr, reason, metrics, pending.done)

    def train_step(self, micro_batches: list[dict]) -> StepResult:
        """One step, waited for."""
        return self.finish(self.launch_step(micro_batches))

    def run_steps(self, batches: Iterable[list[dict]], finish_at: Callable[[int], bool] = lambda step: False) -> Iterator[StepResult]:
        """One step per item of `batches` (a global batch's micro-batches), the host one step behind
        the device: step N's result is read once step N+1 is queued, or at once where
        `finish_at(N)` (the caller then sees the model as of step N, nothing queued after it).
        A diverging run raises TrainingDiverged, with what to do about it."""
        pending: PendingStep | None = None
        try:
            for micro_batches in batches:
                launched = self.launch_step(micro_batches)
                if pending is not None:
                    yield self.finish(pending)
                pending = launched
                if finish_at(launched.step):
                    pending = None
                    yield self.finish(launched)
            if pending is not None:
                yield self.finish(pending)
        except TrainingDiverged as e:
            raise TrainingDiverged(f"{e} {self._after_divergence()}") from None

    def _clip_gradients(self, fused: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The gradients' total norm (before clipping), and what the fused AdamW divides them by
        to clip them inside its own kernel (its `grad_scale`, as GradScaler uses it): one pass over
        every gradient fewer than scaling them first. Without the fused AdamW they are clipped here."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        norm = (norm.full_tensor() if hasattr(norm, "full_tensor") else norm).float()  # a DTensor under FSDP
        max_norm = self.config.optimizer.grad_clip
        if max_norm <= 0:
            return norm, None
        if fused:  # = clip_grad_norm_'s factor min(1, max_norm / (norm + 1e-6)), inverted
            return norm, torch.clamp((norm + 1e-6) / max_norm, min=1.0)
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
        return norm, None

    # ------------------------------------------------------------ validation

    @torch.no_grad()
    def validate(self) -> Validation | None:
        """Mean loss and objective metrics over one pass of the validation data, per unit of the
        objective, so padding and masked targets never enter them. None without validation data."""
        if self.val_data is None:
            return None
        units = loss_sum = torch.zeros((), device=self.env.device)
        metric_sums: dict[str, torch.Tensor] = {}
        it = iter(self.val_data())
        self.model.eval()
        while True:
            batch = next(it, None)
            if not self.env.all_true(batch is not None):  # every rank runs the same passes (FSDP)
                break
            batch = self.prepare(batch)
            with self.autocast():
                loss, metrics = self.objective(self.model, batch)
            units = units + self.objective.units(batch).float()
            loss_sum = loss_sum + loss.float()
            for k, v in metrics.items():
                metric_sums[k] = metric_sums.get(k, 0) + v.float()
        self.model.train()
        units, loss_sum, *sums = self.env.all_reduce(torch.stack([units, loss_sum, *metric_sums.values()])).tolist()
        if units == 0:
            return None
        self.last_val_loss = loss_sum / units
        means = {k: v / units for k, v in zip(metric_sums, sums)}
        means |= getattr(self.objective, "derived", lambda m: {})(means)  # e.g. distillation's bits per byte
        return Validation(self.last_val_loss, int(units), means)

    # ------------------------------------------------------------ the loop

    def _seed(self) -> None:
        seed = self.config.seed + self.env.rank
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def resume(self) -> Path | None:
        """Load the newest checkpoint of this run, if there is one; returns its path."""
        ckpt = self.checkpoints.latest()
        if ckpt is None:
            self._seed()
            return None
        if self.config.freeze_until_step:
            # AdamW makes a weight's state at its first gradient, so a checkpoint of the
            # embeddings-only phase holds none for the frozen weights. Loading in the phase the
            # checkpoint was written in asks for exactly the state it holds (the state-dict API
            # skips weights that need no gradient) and leaves the rest to be made when it was due.
            set_phase(self.model, step_of(ckpt), self.config.freeze_until_step)
        state, data_state = self.checkpoints.load(ckpt, self.model, self.optimizer)
        self.step = state["step"]
        self.skipped_steps = state["skipped_steps"]
        self.last_loss, self.last_val_loss = state["last_loss"], state["last_val_loss"]
        self.first_nonfinite_step = state.get("first_nonfinite_step")
        self.guard.load_state_dict(state["guard"])
        if self.train_data is not None:
            self.train_data.load_state_dict(data_state)
        return ckpt

    def save_checkpoint(self) -> Path:
        state = {
            "skipped_steps": self.skipped_steps,
            "first_nonfinite_step": self.first_nonfinite_step,
            "last_loss": self.last_loss,
            "last_val_loss": self.last_val_loss,
            "guard": self.guard.state_dict(),
            "lr": self.lr_at(self.step),
        }
        data_state = self.train_data.state_dict() if self.train_data is not None else {}
        return self.checkpoints.save(self.step, self.model, self.optimizer, state, data_state)

    def _next_micro_batches(self, it: Iterator[dict]) -> list[dict] | None:
        batches = []
        for _ in range(self.accum):
            b = next(it, None)
            if b is None:
                break
            batches.append(b)
        return batches if self.env.all_true(len(batches) == self.accum) else None

    def fit(self) -> None:
        """Train from the newest checkpoint (or from the start) to `total_steps`."""
        if self.train_data is None:
            raise ValueError("Trainer.fit needs train_data")
        resumed = self.resume()
        monitor = Monitor(
            self.run_dir, self.env, self.total_steps, self.step, self.config.global_batch_tokens, self.flops_per_token
        )
        if resumed is not None:
            monitor.event(self.step, "resumed", checkpoint=str(resumed))
        self.t0 = time.perf_counter()
        self.start_step = self.step
        it = iter(self.train_data)
        saved_at = validated_at = self.step
        stopped = False

        def next_batches() -> list[dict] | None:  # None ends the run: a stop request, or a rank out of data
            nonlocal stopped
            if not self.env.all_true(stop.requested is None):  # voted before any rank draws the step's data
                stopped = True
                return None
            return self._next_micro_batches(it)

        try:
            with StopRequests(announce=self.env.is_main) as stop:
                if resumed is None:
                    self._validate(monitor)  # where the curve starts
                    monitor.restart_clock(self.step)
                for r in self.run_steps(islice(iter(next_batches, None), self.total_steps - self.step), self._at_boundary):
                    self._report(r, monitor)
                    if not self._at_boundary(r.step):
                        continue
                    if self._validates_at(r.step):
                        self._validate(monitor)
                        validated_at = r.step
                    if self._saves_at(r.step):
                        self.save_checkpoint()
                        saved_at = r.step
                    monitor.restart_clock(r.step)
                if stopped:
                    checkpoint = self.save_checkpoint() if saved_at != self.step else self.checkpoints.latest()
                    monitor.event(self.step, "stopped on request", signal=stop.requested or "on another rank", checkpoint=str(checkpoint))
                    raise TrainingStopped(f"stopped at step {self.step}; checkpoint {checkpoint}")
                if self.step < self.total_steps:
                    monitor.event(self.step, "training data exhausted", planned_steps=self.total_steps)
                if validated_at != self.step:
                    self._validate(monitor)
                if saved_at != self.step:
                    self.save_checkpoint()
        finally:
            monitor.close()

    def _validates_at(self, step: int) -> bool:
        return step % self.config.val_every == 0 or step == self.total_steps

    def _saves_at(self, step: int) -> bool:
        return step % self.config.ckpt_every == 0 or step == self.total_steps

    def _at_boundary(self, step: int) -> bool:
        """Validation and checkpoints must see this step finished, with nothing queued after it."""
        return self._validates_at(step) or self._saves_at(step)

    def _report(self, r: StepResult, monitor: Monitor) -> None:
        log = r.step % self.config.log_every == 0 or r.step == self.total_steps
        monitor.step(r.step, None if r.skipped else r.loss, r.lr, r.grad_norm, log, r.metrics, r.done)
        if r.skipped:
            monitor.event(r.step, "skipped step", reason=r.skipped, loss=r.loss, grad_norm=r.grad_norm)

    def _after_divergence(self) -> str:
        latest = self.checkpoints.latest()
        where = f"The newest checkpoint, {latest}, is kept" if latest else "No checkpoint was written yet"
        return (
            f"{where}: rerunning resumes there. Raising [{self.section}].spike_threshold or max_bad_steps "
            f"keeps the run; changing [{self.section}.optimizer] (a lower lr or grad_clip) starts it afresh."
        )

    def _validate(self, monitor: Monitor) -> None:
        result = self.validate()
        if result is not None:
            monitor.validation(self.step, *result, unit=getattr(self.objective, "unit", "tokens"))

    # ------------------------------------------------------------ results

    def full_model_state(self) -> dict[str, torch.Tensor]:
        """The whole model's weights on the CPU under their plain names (gathered from every rank
        under FSDP; every rank must call this; rank 0 gets the tensors)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def summary(self) -> dict:
        seconds = time.perf_counter() - self.t0
        steps = self.step - self.start_step
        return {
            "steps": self.step,
            "tokens": self.step * self.config.global_batch_tokens,
            "skipped_steps": self.skipped_steps,
            "final_loss": self.last_loss,
            "final_val_loss": self.last_val_loss,
            "tokens_per_s": round(steps * self.config.global_batch_tokens / seconds, 1) if seconds > 0 else None,
        } | self._data_passes()

    def _data_passes(self) -> dict:
        """How many times the training data was seen, per source, when the data can say."""
        passes = getattr(self.train_data, "source_passes", None)
        return {"data_passes": {k: round(v, 4) for k, v in passes.items()}} if passes is not None else {}
