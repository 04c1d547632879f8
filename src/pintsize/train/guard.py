"""The divergence guard: a step with a NaN/inf loss or gradient, or a loss spike, is skipped.

A spike is a loss above `threshold` times the mean of the last accepted steps, and above
`threshold` times SPIKE_FLOOR: a loss near zero (DPO's falls toward 0 as the pairs are learnt)
makes any multiple of it tiny, and a step at loss 0.15 after steps at 1e-4 is a hard batch, not
a divergence. Skipping means
no optimizer update (the data is consumed). `max_bad` skipped steps in a row stop the run.

The verdict is reached on the device (`judge`), so the optimizer can skip a bad update without
the host waiting for the step to finish; the host reads it later (`record`), to log the reason
and to stop the run. That keeps the GPU fed: the host launches step N+1 while step N runs.
"""

from __future__ import annotations

import math

import torch

from pintsize.errors import PintsizeError

WINDOW = 20  # accepted losses in the running mean
MIN_HISTORY = 5  # spikes are judged only once the mean rests on this many steps
SPIKE_FLOOR = 0.1  # nats: the mean a spike is measured against is at least this


class TrainingDiverged(PintsizeError):
    pass


class DivergenceGuard:
    def __init__(self, spike_threshold: float, max_bad: int, section: str = "pretrain", device: torch.device | str = "cpu"):
        self.section = section  # the recipe section named in the error message
        self.threshold = spike_threshold
        self.max_bad = max_bad
        # The last WINDOW accepted losses as a ring, and how many were ever accepted (its cursor).
        self.recent = torch.zeros(WINDOW, device=device)
        self.accepted = torch.zeros((), dtype=torch.long, device=device)
        self.bad_in_a_row: list[str] = []

    def judge(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """On the device: (bad, recent mean). `bad` is 1.0 for a step to skip, 0.0 otherwise (the
        fused AdamW's `found_inf`); an accepted loss joins the running mean."""
        loss, grad_norm = loss.float(), grad_norm.float()
        history = self.accepted.clamp(max=WINDOW)
        mean = self.recent.sum() / history.clamp(min=1)
        spike = (history >= MIN_HISTORY) & (loss > self.threshold * mean.clamp(min=SPIKE_FLOOR))
        bad = ~torch.isfinite(loss) | ~torch.isfinite(grad_norm) | spike
        slot = (self.accepted % WINDOW).view(1)  # a 1-element index: a 0-dim one would be read on the host
        self.recent.index_copy_(0, slot, torch.where(bad, self.recent.index_select(0, slot), loss.view(1)))
        self.accepted += (~bad).long()
        return bad.float(), mean

    def record(self, step: int, loss: float, grad_norm: float, bad: bool, mean: float) -> str:
        """On the host, once the step's values are read: why it was skipped ("" if it was not).
        Raises TrainingDiverged when `max_bad` steps in a row were skipped."""
        if not bad:
            self.bad_in_a_row.clear()
            return ""
        if not math.isfinite(loss):
            reason = f"loss is {loss}"
        elif not math.isfinite(grad_norm):
            reason = f"gradient norm is {grad_norm}"
        else:
            reason = f"loss {loss:.4g} is more than {self.threshold:g}x the recent mean {mean:.4g}"
        self.bad_in_a_row.append(f"step {step}: {reason}")
        if len(self.bad_in_a_row) >= self.max_bad:
            raise TrainingDiverged(
                f"training diverged: {len(self.bad_in_a_row)} steps in a row were skipped "
                f"({'; '.join(self.bad_in_a_row)})."
            )
        return reason

    def state_dict(self) -> dict:
        return {"recent": self.recent.tolist(), "accepted": int(self.accepted), "bad_in_a_row": list(self.bad_in_a_row)}

    def load_state_dict(self, state: dict) -> None:
        self.recent.copy_(torch.tensor(state["recent"]))
        self.accepted.fill_(state["accepted"])
        self.bad_in_a_row = list(state["bad_in_a_row"])
