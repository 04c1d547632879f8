"""`pintsize run RECIPE`: every stage in order, skipping those whose inputs and config are unchanged.

A stage's fingerprint hashes its recipe sections and the content hashes of its inputs; after a
stage succeeds, the fingerprint is recorded in `runs/<name>/run_state.json`. A stage reruns when
its artifact is missing or its fingerprint changed (its recipe sections changed, or an upstream
stage made a different artifact). A stage that failed is simply run again: stages keep their
partial work (`<stage>.partial/`) and resume it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pintsize.artifacts import (
    MANIFEST, atomic_write_json, fingerprint, hash_path, inputs_unchanged, read_manifest, record_run_stage, stage_seconds,
)
from pintsize.errors import PintsizeError
from pintsize.eta import RunClock, duration, set_run_clock
from pintsize.pipeline.preflight import preflight, raise_problems
from pintsize.pipeline.stages import STAGES, Stage, stage_dir
from pintsize.recipe import Recipe

console = Console()
STATE_FILE = "run_state.json"
CURRENT_FILE = "current_stage.json"  # the stage running now and its process, while a run is on (pipeline.supervise reads it)


@dataclass
class Step:
    stage: Stage
    out: Path
    action: str  # run | skip | reuse | off
    reason: str


def _state_path(recipe: Recipe) -> Path:
    return recipe.out_dir / STATE_FILE


def _load_state(recipe: Recipe) -> dict[str, str]:
    path = _state_path(recipe)
    return json.loads(path.read_text()) if path.is_file() else {}


def _fingerprint(stage: Stage, recipe: Recipe) -> str | None:
    """None while an input does not exist yet (an upstream stage will make it)."""
    try:
        hashes = {k: hash_path(v) for k, v in stage.inputs(recipe).items()}
    except PintsizeError:
        return None
    return fingerprint(stage.name, stage.config(recipe), hashes)


def decide(stage: Stage, recipe: Recipe, state: dict[str, str], upstream_runs: bool, force: bool) -> Step:
    out = stage_dir(recipe, stage.name)
    if not stage.enabled(recipe):
        return Step(stage, out, "off", "not in the recipe")
    if stage.name in recipe.run.reuse:
        if not (out / MANIFEST).is_file():
            raise PintsizeError(f"[run].reuse.{stage.name}: {out} is not a finished artifact")
        return Step(stage, out, "reuse", f"reusing {out}")
    if force:
        return Step(stage, out, "run", "forced")
    if not (out / MANIFEST).is_file():
        partial = out.with_name(out.name + ".partial")
        return Step(stage, out, "run", "resume a failed run" if partial.exists() else "no artifact yet")
    if upstream_runs:
        return Step(stage, out, "run", "an upstream stage reruns")
    if stage.name not in state:
        # Made by the stage's own command (`pintsize pretrain RECIPE`), not by a run: kept while the
        # inputs it was made from are unchanged, rather than redoing days of training on a guess.
        if inputs_unchanged(out):
            return Step(stage, out, "skip", "made by its own command, inputs unchanged (--force reruns it)")
        return Step(stage, out, "run", "made by its own command from other inputs")
    if state.get(stage.name) != _fingerprint(stage, recipe):
        return Step(stage, out, "run", "config or inputs changed")
    return Step(stage, out, "skip", "unchanged")


def _reads_from(stage: Stage, recipe: Recipe, outputs: set[Path]) -> bool:
    """Whether one of the stage's inputs is (inside) one of these artifacts."""
    try:
        inputs = [Path(p).resolve() for p in stage.inputs(recipe).values()]
    except PintsizeError:
        return True  # an input cannot even be located yet: an earlier stage has to make it
    return any(p == out or out in p.parents for p in inputs for out in outputs)


def plan(recipe: Recipe, force: frozenset[str] = frozenset()) -> list[Step]:
    """What `run` will do. A stage that reads the artifact of a stage planned to run is planned to
    run too (its input may change); `run` itself decides again from the fingerprints."""
    state, steps, rerun = _load_state(recipe), [], set()
    for stage in STAGES:
        upstream_runs = stage.enabled(recipe) and _reads_from(stage, recipe, rerun)  # an off stage reads nothing
        step = decide(stage, recipe, state, upstream_runs, stage.name in force)
        if step.action == "run":
            rerun.add(step.out.resolve())
        steps.append(step)
    return steps


EVERY_RANK = frozenset({"teacher-correct", "pretrain", "distill", "sft", "dpo"})  # under torchrun: the stages all ranks run together
WAIT_POLL_S = 2.0


def _wait_until_done(stage: Stage, recipe: Recipe) -> dict[str, str]:
    """(A rank other than 0.) Wait for rank 0 to record `stage` done in the run's state file. The
    stage's inputs are finished already, so its fingerprint is hashed once, not at every poll."""
    expected = _fingerprint(stage, recipe)
    while (state := _load_state(recipe)).get(stage.name) != expected or expected is None:
        time.sleep(WAIT_POLL_S)
    return state


def last_time(step: Step) -> float | None:
    """What the stage took when it last made its artifact here (None: never, or not in a run)."""
    try:
        return stage_seconds(read_manifest(step.out)) if (step.out / MANIFEST).is_file() else None
    except (PintsizeError, ValueError, KeyError):
        return None


def print_plan(steps: list[Step]) -> None:
    t = Table(title="plan")
    for col in ("stage", "action", "why", "artifact"):
        t.add_column(col)
    style = {"run": "bold green", "skip": "dim", "reuse": "cyan", "off": "dim"}
    for s in steps:
        t.add_row(s.stage.name, f"[{style[s.action]}]{s.action}[/]", s.reason, str(s.out))
    console.print(t)


def run(recipe: Recipe, dry_run: bool = False, force: frozenset[str] = frozenset(), report: bool = True) -> Path | None:
    """Run (or, with dry_run, only print) the plan; returns the report's path.

    Under torchrun every rank runs this: the training stages on all ranks (FSDP2), the others on
    rank 0 while the rest wait for the run's state file to record them done (a file, not a
    collective: curating a large corpus may take longer than a collective's timeout)."""
    main = int(os.environ.get("RANK", "0")) == 0
    steps = plan(recipe, force)
    if main:
        print_plan(steps)
    running = [s for s in steps if s.action == "run"]
    raise_problems(preflight(recipe, {s.stage.name for s in running}, [s.out for s in running]))
    if dry_run:
        return None
    recipe.out_dir.mkdir(parents=True, exist_ok=True)
    state = _load_state(recipe)

    def record_done(stage: Stage) -> None:
        state[stage.name] = _fingerprint(stage, recipe)
        if main:
            atomic_write_json(_state_path(recipe), state)

    clock = RunClock([s.stage.name for s in running], {s.stage.name: last_time(s) for s in running})
    set_run_clock(clock)
    try:
        for planned in steps:
            # Decide again now that upstream stages have finished: fingerprints hash the inputs' content,
            # so a stage whose upstream reran but produced the same artifact is still skipped.
            step = decide(planned.stage, recipe, state, False, planned.stage.name in force)
            if step.action == "skip" and step.stage.name not in state:
                record_done(step.stage)  # made by the stage's own command: from now on, the run's own
            if step.action != "run":
                continue
            if not main and step.stage.name not in EVERY_RANK:
                state = _wait_until_done(step.stage, recipe)
                continue
            clock.start(step.stage.name)
            if main:
                atomic_write_json(recipe.out_dir / CURRENT_FILE, {"stage": step.stage.name, "pid": os.getpid(), "started": time.time()})
                console.rule(f"[bold]{step.stage.name}[/] -> {step.out}  ({step.reason})")
                console.print(f"[dim]{duration(time.time() - clock.started)} into the run; {clock.describe()}[/]", highlight=False)
            t0 = time.time()
            step.stage.execute(recipe, step.out)
            seconds = time.time() - t0
            record_done(step.stage)
            if main:
                record_run_stage(step.out, step.stage.name, seconds)  # the report's and lineage's time: the one printed here
                console.print(f"[green]{step.stage.name} done[/] in {seconds:.1f}s", highlight=False)
    finally:
        set_run_clock(None)
        if main:
            (recipe.out_dir / CURRENT_FILE).unlink(missing_ok=True)
    if not report or not main:
        return None
    from pintsize.report.html import write_report

    path = write_report(recipe.out_dir)
    console.print(f"\n[bold green]Run finished[/] in {duration(time.time() - clock.started)}. Report: [bold]{path}[/]")
    return path
