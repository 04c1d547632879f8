"""Stopping a training run on request: Ctrl-C, or the SIGTERM a scheduler sends before it kills a job.

The first signal asks the run to stop after the step in progress: every rank stops at the same
step (the request is voted on before each step's batches are drawn, so no rank has read data
the checkpoint does not account for), a checkpoint is written, and resuming later is exact. A
second Ctrl-C stops at once, as Ctrl-C always does (the last checkpoint stays good: saves are
atomic).
"""

from __future__ import annotations

import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingStopped(KeyboardInterrupt):
    """The run stopped on request after writing a checkpoint; run the same command to resume.
    A KeyboardInterrupt, so it ends the process as Ctrl-C does (exit status 130)."""


class StopRequests:
    """While entered (in the main thread), SIGINT and SIGTERM set `requested` to the signal's name
    instead of ending the process; signals a job was started to ignore stay ignored."""

    def __init__(self, announce: bool = True):
        self.requested: str | None = None
        self.announce = announce  # one rank speaks for all
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                previous = signal.getsignal(sig)
                if previous is not signal.SIG_IGN:
                    self._previous[sig] = previous
                    signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: at once
        self.requested = signal.Signals(signum).name
        if self.announce:
            print(
                f"\n{self.requested}: stopping after this step and writing a checkpoint "
                "(Ctrl-C again stops at once; the last checkpoint stays good)",
                file=sys.stderr,
                flush=True,
            )
