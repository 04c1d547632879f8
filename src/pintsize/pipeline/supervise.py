"""`pintsize run` in a child process, so that a stage killed outright still gets a last word.

A process the kernel's OOM killer (or anyone's `kill -9`) ends cannot say anything: the run used
to stop after its stage banner, with no line saying what happened. The command therefore runs the
stages in a child and waits for it. The child records the stage it is in (`current_stage.json` in
the run directory); when the child dies by a signal, this parent names the stage and the signal.
The parent holds no model and little memory, so the OOM killer picks the child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from pintsize.pipeline.run import CURRENT_FILE

CHILD_ENV = "PINTSIZE_RUN_CHILD"  # set in the child: it runs the stages itself


def supervised() -> bool:
    """Whether this `pintsize run` should start a child for the stages: not when it is that child,
    and not under torchrun, whose agent already reports a rank killed by a signal."""
    return not os.environ.get(CHILD_ENV) and "RANK" not in os.environ


def killed_message(run_dir: Path, signum: int) -> str:
    """'stage prune killed by signal 9 (out of memory?)'."""
    try:
        stage = json.loads((run_dir / CURRENT_FILE).read_text())["stage"]
    except (OSError, ValueError, KeyError):
        stage = None
    how = "out of memory?" if signum == signal.SIGKILL else signal.Signals(signum).name
    what = f"stage {stage}" if stage else "pintsize run (between stages)"
    return (f"{what} killed by signal {signum} ({how}); finished stages are kept: run the same command again to go on "
            "(training resumes from its last checkpoint)")


def supervise(command: list[str], run_dir: Path) -> int:
    """Run `command` (a `pintsize run` with CHILD_ENV set) and wait for it; returns the exit status
    this process should end with: the child's own, or 128 + the signal that killed it, as a shell
    reports it. Ctrl-C reaches the child from the terminal (it stops after its step and says how to
    go on); a SIGTERM sent to this process alone is passed on to the child."""
    child = subprocess.Popen(command, env={**os.environ, CHILD_ENV: "1"})
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal sends it to the child too; forwarding it would count twice
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code < 0:
        Console(stderr=True).print(f"[bold red]error:[/] {killed_message(run_dir, -code)}", highlight=False)
        return 128 - code
    return code


def run_command(recipe: Path, force: list[str]) -> list[str]:
    """The child's command line: this same `pintsize run`, by this same Python."""
    return [sys.executable, "-m", "pintsize", "run", str(recipe), *(arg for stage in force for arg in ("--force", stage))]
