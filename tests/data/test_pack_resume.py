"""A pack killed with SIGKILL part-way and rerun gives the same bytes as an uninterrupted run,
whether it died while tokenizing (phase 1) or while writing shards (phase 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pintsize.data.config import PackConfig
from pintsize.data.pack import pack_corpus

# Many small units and shards, so that there is a "part-way" to kill at.
CONFIG = PackConfig(val_fraction=0.05, seed=3, shard_tokens=8_000, unit_bytes=60_000)


def _start_pack(corpus: Path, tokenizer: Path, out: Path) -> subprocess.Popen:
    code = (
        "import sys; from pathlib import Path; from pintsize.data.config import PackConfig; "
        "from pintsize.data.pack import pack_corpus; "
        "pack_corpus(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), "
        "PackConfig.model_validate_json(sys.argv[4]), workers=2, progress=False)"
    )
    args = [sys.executable, "-c", code, str(corpus), str(tokenizer), str(out), CONFIG.model_dump_json()]
    return subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"pack ended (rc {proc.returncode}) before the kill point: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("kill point not reached in time")
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus, bpe):
    return _files(pack_corpus(corpus, bpe, tmp_path_factory.mktemp("ref") / "shards", CONFIG, workers=2, progress=False))


@pytest.mark.parametrize("phase", ["tokenizing", "writing shards"])
def test_rerun_after_kill_is_byte_identical(tmp_path, corpus, bpe, reference, phase):
    out = tmp_path / "shards"
    partial = out.with_name(out.name + ".partial")
    if phase == "tokenizing":
        ready = lambda: len(list((partial / "units").glob("unit-*.json"))) >= 2  # noqa: E731
    else:
        ready = lambda: any((partial / "train").glob("tokens-*.bin"))  # noqa: E731
    _kill_when(_start_pack(corpus, bpe, out), ready)

    assert not out.exists(), "the killed run must not leave a finished artifact"
    units_done = len(list((partial / "units").glob("unit-*.json")))
    shards_done = len(list(partial.rglob("tokens-*.bin")))
    assert units_done >= 2 and (phase == "tokenizing" or shards_done >= 1)

    pack_corpus(corpus, bpe, out, CONFIG, workers=2, progress=False)
    assert _files(out) == reference
    assert not partial.exists()
