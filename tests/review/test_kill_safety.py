"""SIGKILL the server while reviewers are writing: the database stays intact and keeps every
label the server acknowledged."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx

from pintsize.review.reviewers import add_reviewer
from pintsize.review.storage import ReviewDB

KILL_AFTER_ACKS = 60


def _wait_until_up(base: str, proc: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(base + "/login", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


def test_sigkill_mid_write_keeps_the_database_whole(tmp_path, corpus, port):
    db_path = tmp_path / "review.sqlite"
    db = ReviewDB(db_path)
    tokens = {f"k{i}": add_reviewer(db, f"k{i}") for i in range(4)}
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pintsize", "review", "serve", str(corpus), "--db", str(db_path), "--port", str(port), "--size", "60"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(base, proc, log)
        with db.read() as conn:
            doc_ids = [r[0] for r in conn.execute("SELECT id FROM documents ORDER BY position")]
        acknowledged: list[tuple[str, str, int]] = []
        lock = threading.Lock()
        enough = threading.Event()

        def write(name: str) -> None:
            headers = {"Authorization": f"Bearer {tokens[name]}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                for i, doc_id in enumerate(doc_ids):
                    value = (i + len(name)) % 6
                    try:
                        response = client.post("/api/labels", json={"doc_id": doc_id, "decision": "accept", "educational_value": value})
                    except httpx.TransportError:
                        return  # the server is gone
                    if response.status_code == 200:
                        with lock:
                            acknowledged.append((doc_id, name, value))
                            if len(acknowledged) >= KILL_AFTER_ACKS:
                                enough.set()

        threads = [threading.Thread(target=write, args=(name,)) for name in tokens]
        for t in threads:
            t.start()
        assert enough.wait(timeout=60), "the writers did not get going"
        os.kill(proc.pid, signal.SIGKILL)
        for t in threads:
            t.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(acknowledged) < len(tokens) * len(doc_ids), "the kill came after all writes: nothing was interrupted"

    conn = sqlite3.connect(db_path)  # a fresh open recovers from the WAL, as the next server would
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = {(d, r): v for d, r, v in conn.execute("SELECT doc_id, reviewer, educational_value FROM labels")}
        audited = conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'label'").fetchone()[0]
    finally:
        conn.close()
    for doc_id, name, value in acknowledged:
        assert stored.get((doc_id, name)) == value, (doc_id, name)
    assert audited == len(stored)  # each label and its audit entry were committed together
