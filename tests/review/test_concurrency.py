"""20 reviewers at once against the real server: no label lost, no document over-assigned."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import httpx

from pintsize.review.reviewers import add_reviewer
from pintsize.review.security import CSRF_HEADER

N_REVIEWERS = 20
LABELS_EACH = 10


@contextmanager
def _signed_in_client(base: str, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=60) as client:
        response = client.post("/api/session", json={"token": token})
        response.raise_for_status()
        client.headers[CSRF_HEADER] = response.json()["csrf"]
        yield client


def _reviewers(db) -> dict[str, str]:
    return {f"r{i:02d}": add_reviewer(db, f"r{i:02d}") for i in range(N_REVIEWERS)}


def test_twenty_reviewers_posting_at_once_lose_no_label(db, live_server):
    tokens = _reviewers(db)
    with db.read() as conn:
        doc_ids = [r[0] for r in conn.execute("SELECT id FROM documents")]
    start = threading.Barrier(N_REVIEWERS)

    def work(name: str) -> list[tuple[str, str, int, int]]:
        rng = random.Random(name)
        acknowledged = []
        with _signed_in_client(live_server, tokens[name]) as client:
            start.wait()
            for doc_id in rng.sample(doc_ids, LABELS_EACH):
                label, value = rng.randint(0, 1), rng.randint(0, 5)
                body = {"doc_id": doc_id, "decision": "accept" if label else "reject", "educational_value": value, "note": f"{name} on {doc_id}"}
                response = client.post("/api/labels", json=body)
                assert response.status_code == 200, response.text
                acknowledged.append((doc_id, name, label, value))
        return acknowledged

    with ThreadPoolExecutor(N_REVIEWERS) as pool:
        acknowledged = [a for result in pool.map(work, tokens) for a in result]

    assert len(acknowledged) == N_REVIEWERS * LABELS_EACH
    with db.read() as conn:
        stored = {(r["doc_id"], r["reviewer"], r["label"], r["educational_value"]) for r in conn.execute("SELECT * FROM labels")}
        audited = conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'label'").fetchone()[0]
    assert stored == set(acknowledged)
    assert audited == len(acknowledged)


def test_twenty_reviewers_working_the_queue_at_once_share_it_exactly(db, live_server):
    tokens = _reviewers(db)
    start = threading.Barrier(N_REVIEWERS)

    def work(name: str) -> list[str]:
        done = []
        with _signed_in_client(live_server, tokens[name]) as client:
            start.wait()
            while (doc := client.get("/api/next").json()["document"]) is not None:
                response = client.post("/api/labels", json={"doc_id": doc["id"], "decision": "accept", "educational_value": 3})
                assert response.status_code == 200, response.text
                done.append(doc["id"])
        return done

    with ThreadPoolExecutor(N_REVIEWERS) as pool:
        done = [d for result in pool.map(work, tokens) for d in result]

    with db.read() as conn:
        required = {r["id"]: r["required"] for r in conn.execute("SELECT id, required FROM documents")}
        per_doc = dict(conn.execute("SELECT doc_id, COUNT(*) FROM labels GROUP BY doc_id").fetchall())
    # every document got exactly the labels it needs: none lost, none given to too many reviewers
    assert per_doc == required
    assert len(done) == sum(required.values())
