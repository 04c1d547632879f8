"""Running the map stage's tasks with datatrove's executors: local (a process pool on this
machine) or Ray (an embedded local Ray instance, or a cluster at `address`).

Both record finished tasks in `logs/completions/` of the partial artifact and skip them on a
rerun. Our shard directories stay the ground truth: a task whose directory exists is a no-op,
and the pipeline drops the completion mark of a shard whose directory is gone. On a Ray cluster
the output directory must be on storage every node can reach, and pintsize installed on every
node.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from datatrove.executor import LocalPipelineExecutor
from loguru import logger

from pintsize.curate.shard_worker import CurateShardStep
from pintsize.errors import PintsizeError

Executor = Literal["local", "ray"]


class _QuietLocalExecutor(LocalPipelineExecutor):
    """datatrove prints INFO logs of its first worker and a line per finished task to the
    console; we show our own progress bar, so workers log to their task files and print only
    errors (datatrove does so for every local_rank but 0)."""

    def _launch_run_for_rank(self, rank: int, ranks_q, completed=None, completed_lock=None):
        local_rank = ranks_q.get()
        try:
            return self._run_for_rank(rank, local_rank + 1)
        finally:
            ranks_q.put(local_rank)


@contextmanager
def _quiet_datatrove():
    logger.disable("datatrove")
    try:
        yield
    finally:
        logger.enable("datatrove")


def run_tasks(
    step: CurateShardStep, tasks: int, logs: Path, executor: Executor, address: str | None, workers: int | None
) -> None:
    with _quiet_datatrove():
        if executor == "local":
            workers = max(1, min(workers or os.cpu_count() or 1, tasks))
            # forkserver (datatrove's default) starts workers from a clean process: no inherited
            # threads or locks. Scripts calling this with workers > 1 need a __main__ guard.
            _QuietLocalExecutor(
                pipeline=[step], tasks=tasks, workers=workers, logging_dir=str(logs), skip_completed=True
            ).run()
        elif executor == "ray":
            _run_ray(step, tasks, logs, address, workers)
        else:
            raise PintsizeError(f"unknown executor {executor!r}: use local or ray")


def _run_ray(step: CurateShardStep, tasks: int, logs: Path, address: str | None, workers: int | None) -> None:
    """Default parallelism: every CPU of the cluster (of this machine for an embedded Ray)."""
    import ray
    from datatrove.executor.ray import RayPipelineExecutor

    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
        except ConnectionError as e:
            raise PintsizeError(f"--address {address}: cannot reach a Ray cluster ({e})") from None
    workers = max(1, min(workers or int(ray.cluster_resources().get("CPU", 1)), tasks))
    try:
        RayPipelineExecutor(
            pipeline=[step], tasks=tasks, workers=workers, logging_dir=str(logs), skip_completed=True, mem_per_cpu_gb=1
        ).run()
    finally:
        if started:
            ray.shutdown()
