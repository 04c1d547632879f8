"""benchmarks/train_throughput.py runs end to end on a CPU (--smoke), so the GPU run is not its first run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"


def test_smoke_run_reports_throughput_losses_and_a_profile(tmp_path):
    tokens = tmp_path / "tokens.npy"
    made = subprocess.run([sys.executable, str(SCRIPT), "--make-tokens", str(tokens), "--max-tokens", "20000"],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run([sys.executable, str(SCRIPT), "--tokens", str(tokens), "--smoke", "--no-compile",
                          "--shapes", "0.12-pint", "--attention", "document"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OUT": str(out), "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    (result,) = summary["results"]
    assert summary["failed"] == []
    assert result["tokens_per_s"] > 0 and result["mfu"] is None  # no peak FLOPs for a CPU
    # the engine's first step computes the same loss as the plain model: nothing learned yet, ln(32064) = 10.38
    assert result["loss_first_step"] == pytest.approx(result["loss_first_step_eager"], rel=1e-5) and result["loss_matches_eager"]
    assert result["loss_first_step"] == pytest.approx(10.38, abs=0.1)
    assert json.loads((out / "results.json").read_text()) == summary
    assert "Self CPU" in (out / "profile-0.12-pint-document.txt").read_text()
