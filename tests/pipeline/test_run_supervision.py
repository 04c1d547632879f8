"""A stage killed outright (the OOM killer's signal 9) is named: `pintsize run` used to end after the
stage's banner with nothing more, since the process that could have said it was the one killed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pintsize.pipeline.run import CURRENT_FILE
from pintsize.pipeline.supervise import CHILD_ENV, supervise


def _child(run_dir: Path, stage: str, then: str) -> list[str]:
    """A stand-in for the stages' child: records its stage as `run` does, then does `then`."""
    record = f"json.dump({{'stage': {stage!r}, 'pid': os.getpid()}}, open({str(run_dir / CURRENT_FILE)!r}, 'w'))"
    return [sys.executable, "-c", f"import json, os, signal, sys; {record}; {then}"]


def test_a_child_killed_by_signal_9_is_named_by_its_stage(tmp_path, capsys):
    code = supervise(_child(tmp_path, "prune", "os.kill(os.getpid(), signal.SIGKILL)"), tmp_path)
    assert code == 128 + 9
    err = " ".join(capsys.readouterr().err.split())
    assert "error: stage prune killed by signal 9 (out of memory?); finished stages are kept" in err


def test_other_signals_are_named_and_ordinary_exits_pass_through_quietly(tmp_path, capsys):
    assert supervise(_child(tmp_path, "eval", "os.kill(os.getpid(), signal.SIGSEGV)"), tmp_path) == 128 + 11
    assert "stage eval killed by signal 11 (SIGSEGV)" in " ".join(capsys.readouterr().err.split())
    assert supervise(_child(tmp_path, "eval", "sys.exit(2)"), tmp_path) == 2  # the child said why itself
    assert supervise(_child(tmp_path, "eval", "assert os.environ[" + repr(CHILD_ENV) + "]"), tmp_path) == 0
    assert capsys.readouterr().err == ""


def test_pintsize_run_names_the_stage_the_oom_killer_would_end(tmp_path):
    """The whole command: its child is killed with signal 9 in pretraining, as the OOM killer does."""
    from pintsize.data.config import PackConfig
    from pintsize.data.docs_chat import write_jsonl
    from pintsize.data.pack import pack_corpus
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer import build_tokenizer
    from pintsize.tokenizer.config import TokenizerConfig

    write_jsonl(pydoc_documents(limit=8), tmp_path / "docs.jsonl")  # the run reuses a tokenizer and shards: no curation
    tokenizer = build_tokenizer(TokenizerConfig(kind="train", vocab_size=512), tmp_path / "docs.jsonl", tmp_path / "tokenizer")
    shards = pack_corpus(tmp_path / "docs.jsonl", tokenizer, tmp_path / "pack", PackConfig(val_fraction=0.1), workers=1, progress=False)
    run_dir = tmp_path / "runs" / "killed"
    (tmp_path / "r.toml").write_text(f"""
[run]
name = "killed"
out_dir = "{run_dir}"
reuse = {{ tokenizer = "{tokenizer}", pack = "{shards}" }}
[model]
name = "tiny"
n_layer = 1
d_model = 16
n_head = 2
n_kv_head = 1
d_ff = 32
block_size = 32
[pretrain]
seq_len = 32
micro_batch_size = 2
global_batch_tokens = 64
max_steps = 1000000
precision = "fp32"
ckpt_every = 1000000
val_every = 1000000
[eval]
perplexity = false
[export]
hf = false
gguf = false
""")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-m", "pintsize", "run", str(tmp_path / "r.toml")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and parent.poll() is None:
            current = run_dir / CURRENT_FILE
            record = json.loads(current.read_text()) if current.is_file() else {}
            if record.get("stage") == "pretrain":
                time.sleep(1.0)  # into the training loop
                os.kill(record["pid"], signal.SIGKILL)
                break
            time.sleep(0.2)
        out, err = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 137, err[-2000:]
    assert "stage pretrain killed by signal 9 (out of memory?)" in " ".join(err.split())
    assert "pretrain -> " in out and "pretrain done" not in out
