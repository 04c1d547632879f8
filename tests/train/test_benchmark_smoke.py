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


def test_gpu_checks_and_block_variants_pass_their_cpu_parts():
    """The scripts of the GPU session's two calls, checked here so the H200 is not their first run."""
    bench = SCRIPT.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(bench.parent / "src")}
    checks = subprocess.run([sys.executable, str(bench / "gpu_checks.py"), "--device", "cpu", "--skip-flex"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert checks.returncode == 0, checks.stdout + checks.stderr[-3000:]
    rows = json.loads(checks.stdout.strip().splitlines()[-1])["checks"]
    assert len(rows) == 4 and all(r["ok"] for r in rows)
    variants = subprocess.run([sys.executable, str(bench / "block_variants.py"), "--smoke", "--no-compile"],
                              capture_output=True, text=True, timeout=300, env=env)
    assert variants.returncode == 0, variants.stderr[-3000:]
    summary = json.loads(variants.stdout.strip().splitlines()[-1])
    assert len(summary["block_variants"]) == 12 and all(r["matches"] for r in summary["block_variants"])
    assert all(o["params_rel_err"] < 1e-6 for o in summary["optimizer"])
