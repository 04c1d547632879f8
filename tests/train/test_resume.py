"""Checkpoints: resume is exact after SIGKILL, a killed save leaves the last good one, last K kept."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from pintsize.artifacts import read_manifest
from pintsize.errors import CheckpointError
from train_helpers import make_trainer, read_metrics, series, train_config

SCRIPT = Path(__file__).with_name("tiny_run.py")


def run(out: Path, data, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), str(out), *map(str, data), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def checkpoints(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir())


def test_resume_after_sigkill_gives_the_same_loss_at_every_step(tmp_path, data):
    ref = run(tmp_path / "ref", data)
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "run"
    partial = tmp_path / "run.partial"  # where the stage works until it succeeds
    killed = run(out, data, "--kill-after-step", "13")
    assert killed.returncode == -signal.SIGKILL
    assert checkpoints(partial) == ["step-0000008"] and not out.exists()
    killed_in_save = run(out, data, "--kill-in-save", "16")  # resumes at 8, dies while saving 16
    assert killed_in_save.returncode == -signal.SIGKILL
    assert checkpoints(partial) == ["step-0000008", "step-0000016.tmp"]
    # resumes at 8 again: how many checkpoints to keep is not part of the run's identity
    done = run(out, data, "--keep-last", "3")
    assert done.returncode == 0, done.stderr
    assert not partial.exists() and checkpoints(out) == ["step-0000008", "step-0000016", "step-0000024"]
    assert read_manifest(out)["execution"]["keep_last"] == 3

    losses = series(out, "loss")
    assert sorted(losses) == list(range(1, 25))
    assert losses == series(tmp_path / "ref", "loss")  # exactly, at every step
    assert series(out, "val_loss") == series(tmp_path / "ref", "val_loss")
    events = [(r["step"], r["event"]) for r in read_metrics(out) if "event" in r]
    assert events == [(8, "resumed"), (8, "resumed")]  # both resumes are logged
    ref_w, run_w = load_file(tmp_path / "ref/model/model.safetensors"), load_file(out / "model/model.safetensors")
    assert ref_w.keys() == run_w.keys() and all((ref_w[k] == run_w[k]).all() for k in ref_w)


@pytest.mark.parametrize("freeze_until_step", [8, 12])  # the checkpoint at 8 ends the frozen phase, or falls inside it
def test_resume_from_a_checkpoint_of_the_frozen_phase_is_exact(tmp_path, data, freeze_until_step):
    """At a checkpoint of the embeddings-only phase the optimizer holds no state for the frozen
    weights (AdamW makes it at a weight's first gradient); the resumed run must neither ask the
    checkpoint for it nor make it early (its step count would then be off by one)."""
    freeze = ("--steps", "16", "--freeze-until-step", str(freeze_until_step))
    ref = run(tmp_path / "ref", data, *freeze)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "run"
    killed = run(out, data, *freeze, "--kill-after-step", "11")
    assert killed.returncode == -signal.SIGKILL
    assert checkpoints(tmp_path / "run.partial") == ["step-0000008"]
    done = run(out, data, *freeze)
    assert done.returncode == 0, done.stderr

    assert [(r["step"], r["event"]) for r in read_metrics(out) if "event" in r] == [(8, "resumed")]
    losses = series(out, "loss")
    assert sorted(losses) == list(range(1, 17)) and losses == series(tmp_path / "ref", "loss")  # exactly
    ref_w, run_w = load_file(tmp_path / "ref/model/model.safetensors"), load_file(out / "model/model.safetensors")
    assert ref_w.keys() == run_w.keys() and all((ref_w[k] == run_w[k]).all() for k in ref_w)


def test_ctrl_c_or_sigterm_stops_after_the_step_with_a_checkpoint_and_resuming_is_exact(tmp_path, data):
    ref = run(tmp_path / "ref", data)
    assert ref.returncode == 0, ref.stderr
    out, partial = tmp_path / "run", tmp_path / "run.partial"

    interrupted = run(out, data, "--signal-after-step", "11", "INT")
    assert interrupted.returncode != 0 and "TrainingStopped: stopped at step 11" in interrupted.stderr  # (`pintsize`: exit 130)
    assert "SIGINT: stopping after this step and writing a checkpoint" in interrupted.stderr
    assert checkpoints(partial) == ["step-0000008", "step-0000011"] and not out.exists()
    terminated = run(out, data, "--signal-after-step", "19", "TERM")  # resumes at 11; a scheduler's SIGTERM at 19
    assert terminated.returncode != 0 and "SIGTERM: stopping after this step" in terminated.stderr
    assert checkpoints(partial) == ["step-0000016", "step-0000019"]
    done = run(out, data)
    assert done.returncode == 0, done.stderr

    assert series(out, "loss") == series(tmp_path / "ref", "loss")  # exactly, at every step
    assert series(out, "val_loss") == series(tmp_path / "ref", "val_loss")
    events = [(r["step"], r["event"]) for r in read_metrics(out) if "event" in r]
    assert events == [(11, "stopped on request"), (11, "resumed"), (19, "stopped on request"), (19, "resumed")]


def test_stop_requests_a_second_ctrl_c_stops_at_once_and_ignored_signals_stay_ignored():
    from pintsize.train.stop import StopRequests

    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Python's own Ctrl-C handler, whatever the test runner left (pytest-xdist's workers ignore SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopRequests(announce=False) as stop:
            os.kill(os.getpid(), signal.SIGTERM)  # ignored when entered: stays so
            assert stop.requested is None
            signal.raise_signal(signal.SIGINT)
            assert stop.requested == "SIGINT"
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, shards, monkeypatch):
    from pintsize.train import checkpoint

    t = make_trainer(tmp_path, shards, train_config(max_steps=6, ckpt_every=3))
    write = checkpoint.atomic_write_json

    def fail_at_6(path, obj):
        if "step-0000006" in str(path):
            raise OSError("disk full")
        return write(path, obj)

    monkeypatch.setattr(checkpoint, "atomic_write_json", fail_at_6)
    with pytest.raises(OSError, match="disk full"):
        t.fit()
    assert checkpoints(tmp_path) == ["step-0000003", "step-0000006.tmp"]
    monkeypatch.undo()
    again = make_trainer(tmp_path, shards, train_config(max_steps=6, ckpt_every=3))
    assert again.resume() == tmp_path / "checkpoints" / "step-0000003" and again.step == 3
    assert checkpoints(tmp_path) == ["step-0000003"]  # the broken save is cleared away


def test_resuming_with_another_number_of_processes_is_a_clear_error(tmp_path, shards):
    make_trainer(tmp_path, shards, train_config(max_steps=2, ckpt_every=2)).fit()
    state = tmp_path / "checkpoints" / "step-0000002" / "trainer.json"
    state.write_text(state.read_text().replace('"world_size": 1', '"world_size": 4'))
    with pytest.raises(CheckpointError, match="saved by 4 processes but resumed with 1"):
        make_trainer(tmp_path, shards).resume()
    os.remove(state)
    with pytest.raises(CheckpointError, match=r"step-0000002: unreadable trainer.json"):
        make_trainer(tmp_path, shards).resume()
