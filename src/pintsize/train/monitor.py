"""What a run reports while it trains: a rich progress bar (tokens/s, MFU, ETA, loss), a
metrics JSONL file and TensorBoard scalars. Only rank 0 reports.

MFU = tokens/s x FLOPs per token / (peak FLOP/s x devices), with FLOPs per token from
`pintsize.model.info.flops_per_token` (6N + 12·L·d·T) and the peak looked up by device name.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pintsize.artifacts import atomic_write_text
from pintsize.eta import duration, remaining, run_clock
from pintsize.train.distributed import DistEnv

METRICS_FILE = "metrics.jsonl"
TB_DIR = "tb"

# Dense bf16 tensor-core peaks from the vendors' datasheets, matched against the device name
# in order (more specific names first).
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("H800", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
)


def peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of one device, or None when unknown (CPUs, unlisted GPUs)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in name), None)


def truncate_metrics(path: Path, last_step: int) -> None:
    """On resume, drop records a killed run wrote after the checkpoint it resumes from (and a
    last line torn by the kill)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= last_step:
            kept.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def strict_json_record(record: dict) -> dict:
    """A record that strict JSON parsers (jq, JavaScript's JSON.parse) read: a NaN or infinite
    value becomes null, and `nonfinite` says what it was, e.g. {"loss": null, "nonfinite":
    {"loss": "nan"}}."""
    nonfinite = {k: str(v) for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
    if not nonfinite:
        return record
    return {**{k: None if k in nonfinite else v for k, v in record.items()}, "nonfinite": nonfinite}


def _named(metrics: dict[str, float], prefix: str, record: dict) -> dict[str, float]:
    """The objective's metrics under their record keys, which must not replace the engine's own."""
    named = {prefix + name: value for name, value in metrics.items()}
    if clash := sorted(named.keys() & record.keys()):
        raise ValueError(f"objective metrics {clash} would overwrite the engine's own keys in {METRICS_FILE}")
    return named


class Stamp:
    """When the device had done the work queued so far: a CUDA event (it times the device, not
    the host, which runs a step ahead), or the host's clock where the host computes each step
    itself (CPU). Throughput is measured between two stamps: stamping when a step's result is
    read was wrong, since the host reads step N after computing N + 1, except right before a
    checkpoint or validation, which made every such step look hundreds of times faster."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.event = None
        if device is not None and device.type == "cuda":
            self.event = torch.cuda.Event(enable_timing=True)
            self.event.record()
        self.host = time.perf_counter()

    def seconds_since(self, earlier: "Stamp") -> float:
        if self.event is not None and earlier.event is not None:
            self.event.synchronize()
            return earlier.event.elapsed_time(self.event) / 1000
        return self.host - earlier.host


class Monitor:
    def __init__(
        self,
        run_dir: Path,
        env: DistEnv,
        total_steps: int,
        start_step: int,
        tokens_per_step: int,
        flops_per_token: float | None,
        console: Console | None = None,
    ):
        self.env = env
        self.total_steps = total_steps
        self.tokens_per_step = tokens_per_step
        peak = peak_flops(env.device)
        self.peak_total = peak * env.world_size if peak and flops_per_token else None
        self.flops_per_token = flops_per_token
        self.console = console or Console(stderr=True)
        self._losses: list[float] = []
        self._metric_values: dict[str, list[float]] = {}  # the objective's metrics over the logging interval
        self._interval_start = (Stamp(env.device), start_step)
        self._began = (time.perf_counter(), start_step)  # the ETA's rate: everything since the start, validation included
        self._last_rate = (0.0, None)
        if not env.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter

        run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = run_dir / METRICS_FILE
        # Keep what the checkpoint we resume from had seen; a fresh start (a run killed before
        # its first checkpoint) keeps nothing.
        keep_through = start_step if start_step else -1
        truncate_metrics(self.metrics_path, keep_through)
        self._metrics = open(self.metrics_path, "a", encoding="utf-8")
        self._tb = SummaryWriter(str(run_dir / TB_DIR), purge_step=keep_through + 1)
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
        )
        self._task = self._progress.add_task("train", total=total_steps, completed=start_step, stats="")
        self._progress.start()

    def _write(self, record: dict) -> None:
        self._metrics.write(json.dumps(strict_json_record(record), allow_nan=False) + "\n")
        self._metrics.flush()

    def step(
        self, step: int, loss: float | None, lr: float, grad_norm: float, log: bool,
        metrics: dict[str, float] | None = None, done: Stamp | None = None,
    ) -> None:
        """Record one optimizer step (loss None: skipped); every `log` step writes the interval's
        mean loss and the mean of each objective metric (`metrics`, per unit), over the same steps.
        `done` stamps when the step's work was finished (default: now)."""
        if loss is not None:
            self._losses.append(loss)
            for name, value in (metrics or {}).items():
                self._metric_values.setdefault(name, []).append(value)
        if not self.env.is_main:
            return
        self._progress.update(self._task, completed=step)
        if not log:
            return
        done = done or Stamp(self.env.device)
        t0, s0 = self._interval_start
        tokens_per_s = (step - s0) * self.tokens_per_step / max(done.seconds_since(t0), 1e-9)
        self._interval_start = (done, step)
        mfu = tokens_per_s * self.flops_per_token / self.peak_total if self.peak_total else None
        mean_loss = sum(self._losses) / len(self._losses) if self._losses else None
        self._losses.clear()
        means = {name: sum(values) / len(values) for name, values in self._metric_values.items()}
        self._metric_values.clear()
        record = {
            "step": step,
            "tokens": step * self.tokens_per_step,
            "loss": mean_loss,
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens_per_s": round(tokens_per_s, 1),
            "mfu": mfu,
        }
        record.update(_named(means, "", record))
        self._write(record)
        for key in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu", *means):
            if record[key] is not None:
                self._tb.add_scalar(f"train/{key}", record[key], step)
        loss_txt = f"{mean_loss:.4f}" if mean_loss is not None else "-"
        mfu_txt = f"{mfu:.1%}" if mfu is not None else "-"
        stats = f"loss {loss_txt}  {tokens_per_s:,.0f} tok/s  MFU {mfu_txt}  lr {lr:.2e}"
        t_began, s_began = self._began
        left = remaining(step - s_began, self.total_steps - s_began, time.perf_counter() - t_began)
        clock = run_clock()
        run_eta = f"  ({clock.describe(left)})" if clock else ""
        self._progress.update(self._task, stats=stats + run_eta)  # the bar shows the stage's ETA itself
        if not self.console.is_terminal:
            eta = duration(left) if left is not None else "unknown"
            self.console.print(f"step {step}/{self.total_steps}  {stats}  ETA {eta}{run_eta}", highlight=False)

    def restart_clock(self, step: int) -> None:
        """Throughput counts training only: the clock restarts after validation and checkpoints
        (with nothing queued on the device then)."""
        self._interval_start = (Stamp(self.env.device), step)

    def validation(self, step: int, loss: float, tokens: int, metrics: dict[str, float] | None = None, unit: str = "tokens") -> None:
        """The validation pass's mean loss over `tokens` units and the objective's metrics (per
        unit), written as `val_loss`, `val_tokens` and `val_<name>`."""
        if not self.env.is_main:
            return
        metrics = metrics or {}
        record = {"step": step, "val_loss": loss, "val_tokens": tokens}
        self._write(record | _named(metrics, "val_", record))
        self._tb.add_scalar("val/loss", loss, step)
        for name, value in metrics.items():
            self._tb.add_scalar(f"val/{name}", value, step)
        extra = "".join(f"  {name} {value:.4f}" for name, value in metrics.items())
        self.console.print(f"step {step}: validation loss {loss:.4f} on {tokens:,} {unit}{extra}", highlight=False)

    def event(self, step: int, event: str, **fields) -> None:
        """Something a reader of the log must see: a skipped step, a resume, the end of the data."""
        if not self.env.is_main:
            return
        self._write({"step": step, "event": event, **fields})
        detail = " ".join(f"{k}={v}" for k, v in fields.items())
        self.console.print(f"[yellow]step {step}: {escape(event)}[/] {escape(detail)}", highlight=False)

    def close(self) -> None:
        if not self.env.is_main:
            return
        self._progress.stop()
        self._tb.close()
        self._metrics.close()
