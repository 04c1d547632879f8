"""The divergence guard: a step with a NaN/inf loss or gradient, or a loss spike, is skipped.

A spike is a loss above `threshold` times the mean of the last accepted steps. Skipping means
no optimizer update (the data is consumed). `max_bad` skipped steps in a row stop the run.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from pintsize.errors import PintsizeError

WINDOW = 20  # accepted losses in the running mean
MIN_HISTORY = 5  # spikes are judged only once the mean rests on this many steps


class TrainingDiverged(PintsizeError):
    pass


@dataclass
class Verdict:
    ok: bool
    reason: str = ""


class DivergenceGuard:
    def __init__(self, spike_threshold: float, max_bad: int, section: str = "pretrain"):
        self.section = section  # the recipe section named in the error message
        self.threshold = spike_threshold
        self.max_bad = max_bad
        self.history: deque[float] = deque(maxlen=WINDOW)
        self.bad_in_a_row: list[str] = []

    def check(self, step: int, loss: float, grad_norm: float) -> Verdict:
        """Judge a step; raise TrainingDiverged when too many in a row were bad."""
        reason = ""
        if not math.isfinite(loss):
            reason = f"loss is {loss}"
        elif not math.isfinite(grad_norm):
            reason = f"gradient norm is {grad_norm}"
        elif len(self.history) >= MIN_HISTORY:
            mean = sum(self.history) / len(self.history)
            if loss > self.threshold * mean:
                reason = f"loss {loss:.4g} is more than {self.threshold:g}x the recent mean {mean:.4g}"
        if not reason:
            self.history.append(loss)
            self.bad_in_a_row.clear()
            return Verdict(True)
        self.bad_in_a_row.append(f"step {step}: {reason}")
        if len(self.bad_in_a_row) >= self.max_bad:
            raise TrainingDiverged(
                f"training diverged: {len(self.bad_in_a_row)} steps in a row were skipped "
                f"({'; '.join(self.bad_in_a_row)})."
            )
        return Verdict(False, reason)

    def state_dict(self) -> dict:
        return {"history": list(self.history), "bad_in_a_row": list(self.bad_in_a_row)}

    def load_state_dict(self, state: dict) -> None:
        self.history = deque(state["history"], maxlen=WINDOW)
        self.bad_in_a_row = list(state["bad_in_a_row"])
