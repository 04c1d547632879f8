"""Output that must not mislead: strict-JSON metrics, byte-reproducible weights, throughput
measured between step-completion stamps, no retraining of a finished artifact."""

import hashlib
import json
import time

import torch

from pintsize.model.checkpoint import save_model
from pintsize.model.config import get_config
from pintsize.train import monitor
from pintsize.train.distributed import DistEnv


def cpu_env():
    return DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def test_metrics_jsonl_is_strict_json(tmp_path):
    m = monitor.Monitor(tmp_path, cpu_env(), total_steps=2, start_step=0, tokens_per_step=64, flops_per_token=None)
    m.step(1, float("nan"), 1e-3, float("inf"), log=True)
    m.event(1, "skipped step", loss=float("-inf"))
    m.close()
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # no NaN/Infinity
    first, event = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert first["loss"] is None and first["grad_norm"] is None
    assert first["nonfinite"] == {"loss": "nan", "grad_norm": "inf"} and event["nonfinite"] == {"loss": "-inf"}


def test_throughput_uses_the_step_completion_stamp(tmp_path):
    m = monitor.Monitor(tmp_path, cpu_env(), total_steps=3, start_step=0, tokens_per_step=1000, flops_per_token=None)
    start = m._interval_start[0]
    done = monitor.Stamp()
    done.host = start.host + 2.0  # the step finished 2 s after the clock started
    time.sleep(0.01)
    m.step(1, 1.0, 1e-3, 0.5, log=True, done=done)  # read later (the host is a step behind)
    m.close()
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["tokens_per_s"] == 500.0


def test_model_safetensors_is_byte_reproducible(tmp_path):
    cfg = get_config("tiny", n_layer=1, d_model=32, n_head=2, n_kv_head=1, d_ff=64, vocab_size=64, block_size=16)
    state = {"w": torch.arange(6.0).view(2, 3), "v": torch.ones(4)}
    hashes = {hashlib.sha256((save_model(state, cfg, tmp_path / f"m{i}") / "model.safetensors").read_bytes()).hexdigest() for i in range(12)}
    assert len(hashes) == 1


def test_dpo_validation_counts_pairs(tmp_path, capsys):
    from pintsize.train.dpo_objective import DPOObjective

    m = monitor.Monitor(tmp_path, cpu_env(), total_steps=1, start_step=0, tokens_per_step=64, flops_per_token=None)
    m.validation(0, 0.69, 24, unit=DPOObjective.unit)
    m.close()
    assert "validation loss 0.6900 on 24 pairs" in capsys.readouterr().err
