"""`torchrun --nproc_per_node 2 -m pintsize pretrain` (gloo, FSDP2) trains like one process
with the same global batch; two stages in one torchrun process share its process group."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from train_helpers import read_metrics, series, write_recipe

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")

# fp32 throughout; the runs differ only in the order of floating-point sums (FSDP's
# reduce-scatter of gradients, the sharded gradient norm). Measured on this machine over 12
# AdamW steps: losses within 1e-7 (relative), weights within 1e-6; the tolerances allow 10x more.
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5


def pretrain(launcher: list[str], recipe: Path, out: Path, data) -> None:
    shards, tokenizer = data
    cmd = [*launcher, "-m", "pintsize", "pretrain", str(recipe), "--shards", str(shards), "--tokenizer", str(tokenizer),
           "--out", str(out), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_match_one(tmp_path, data):
    # 2 rows per micro-batch, 4 per step: one process accumulates two micro-batches, two processes one each
    recipe = write_recipe(tmp_path / "recipe.toml", max_steps=12, micro_batch_size=2, global_batch_tokens=4 * 64,
                          ckpt_every=6, val_every=6)
    pretrain([sys.executable], recipe, tmp_path / "one", data)
    pretrain([TORCHRUN, "--standalone", "--nproc_per_node", "2"], recipe, tmp_path / "two", data)

    one, two = tmp_path / "one", tmp_path / "two"
    assert sorted(series(two, "loss")) == list(range(1, 13))
    assert list(series(two, "loss").values()) == pytest.approx(list(series(one, "loss").values()), rel=LOSS_RTOL)
    assert list(series(two, "val_loss").values()) == pytest.approx(list(series(one, "val_loss").values()), rel=LOSS_RTOL)
    shards_written = sorted(p.name for p in (two / "checkpoints/step-0000012").glob("*.distcp"))
    assert shards_written == ["__0_0.distcp", "__1_0.distcp"]  # each rank saved its own shard
    w1, w2 = load_file(one / "model/model.safetensors"), load_file(two / "model/model.safetensors")
    assert w1.keys() == w2.keys()
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < WEIGHT_ATOL


def test_two_stages_in_one_process_share_one_process_group(tmp_path, data):
    """As `pintsize run` trains pretrain, SFT and DPO in one torchrun process: the second stage
    reuses the first one's process group (making a second one could hang) and starts from the
    first one's model."""
    first, second = tmp_path / "first", tmp_path / "second"
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node", "2", str(Path(__file__).with_name("tiny_run.py")),
           str(first), *map(str, data), "--steps", "2", "--micro-batch", "2", "--then", str(second)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        calls = json.loads((second / f"process-groups-rank{rank}.json").read_text())
        assert calls == {"init_process_group": 1, "destroy_process_group": 0}
    assert sorted(series(second, "loss")) == [1, 2]
    # the second stage's first validation is of the first stage's final weights, on the same data
    assert series(second, "val_loss")[0] == pytest.approx(series(first, "val_loss")[2], rel=LOSS_RTOL)


def test_a_stop_request_on_one_rank_stops_every_rank_at_the_same_step(tmp_path, data):
    """SIGTERM reaches rank 1 alone: both ranks stop after step 5 (no hang in a collective), and
    the checkpoint at 5 holds both ranks' shards."""
    out = tmp_path / "run"
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node", "2", str(Path(__file__).with_name("tiny_run.py")),
           str(out), *map(str, data), "--steps", "12", "--micro-batch", "2", "--signal-after-step", "5", "TERM", "--signal-rank", "1"]
    stopped = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert stopped.returncode != 0 and "TrainingStopped: stopped at step 5" in stopped.stderr, stopped.stderr[-3000:]
    checkpoint = tmp_path / "run.partial" / "checkpoints" / "step-0000005"
    assert sorted(p.name for p in checkpoint.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    events = [(r["step"], r["event"], r.get("signal")) for r in read_metrics(tmp_path / "run.partial") if "event" in r]
    assert events == [(5, "stopped on request", "on another rank")]  # rank 0 writes the log; rank 1 was signalled
