"""How long is left: of a stage, from its rate so far, and of a whole `pintsize run`, from the stages
still to come.

A stage that has not started has no rate of its own. Its estimate is what it took the last time it
ran in this run directory (recorded in its artifact's manifest), or unknown: the run's estimate
then names the stages it cannot count rather than guessing them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def duration(seconds: float) -> str:
    """42s, 3m05s, 1h02m."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def remaining(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the average rate so far (None before the first unit is done)."""
    if done <= 0 or elapsed <= 0:
        return None
    return max(0, total - done) * elapsed / done


@dataclass
class RunClock:
    """The stages a run still has to do, with what each took last time (None: unknown)."""

    todo: list[str]
    estimates: dict[str, float | None]
    current: str | None = None
    started: float = field(default_factory=time.time)

    def start(self, stage: str) -> None:
        self.current = stage
        if stage in self.todo:
            self.todo = self.todo[self.todo.index(stage) + 1 :]

    def describe(self, current_left: float | None = None) -> str:
        """'run ETA 4m10s', or 'run ETA >= 1m40s + sft, dpo (unknown)' when some stages are new."""
        parts = [current_left] if self.current is not None else []
        names = [self.current] if self.current is not None else []
        parts += [self.estimates.get(s) for s in self.todo]
        names += self.todo
        known = [p for p in parts if p is not None]
        unknown = [n for n, p in zip(names, parts) if p is None]
        if not unknown:
            return f"run ETA {duration(sum(known))}"
        if not known:
            return f"run ETA unknown ({', '.join(unknown)} not timed yet)"
        return f"run ETA >= {duration(sum(known))} + {', '.join(unknown)} (not timed yet)"


_clock: RunClock | None = None


def set_run_clock(clock: RunClock | None) -> None:
    """`pintsize run` sets the clock its stages report against (None when the run ends)."""
    global _clock
    _clock = clock


def run_clock() -> RunClock | None:
    return _clock
