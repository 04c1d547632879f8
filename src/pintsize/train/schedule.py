"""Learning-rate schedules: a pure function of the optimizer step.

Steps count from 1 (the first optimizer update). Warm-up rises linearly to the peak, reaching it
at step `warmup_steps`; then
  cosine    decays along half a cosine to `min_lr` at `total_steps`;
  wsd       holds the peak (warmup-stable-decay) and decays linearly to `min_lr` over the last
            `decay_fraction` of the steps;
  constant  holds the peak.
Being a function of the step alone, the schedule needs no state of its own in a checkpoint: the
step restores it exactly.
"""

from __future__ import annotations

import math

from pintsize.train.config import OptimizerConfig


def lr_at(step: int, total_steps: int, cfg: OptimizerConfig) -> float:
    """The learning rate of optimizer step `step` (1-based) in a run of `total_steps`."""
    peak, floor, warmup = cfg.lr, cfg.min_lr, cfg.warmup_steps
    if step <= warmup:
        return peak * step / warmup
    if cfg.schedule == "constant":
        return peak
    if cfg.schedule == "wsd":
        decay_steps = max(1, round(cfg.decay_fraction * total_steps))
        decay_start = max(warmup, total_steps - decay_steps)
        if step <= decay_start:
            return peak
        progress = min(1.0, (step - decay_start) / max(1, total_steps - decay_start))
        return peak + (floor - peak) * progress
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
