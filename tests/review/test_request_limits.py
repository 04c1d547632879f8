"""Bodies the review API used to answer with a 500 or read without limit: lone surrogates (before
sign-in, at /api/session), oversized bodies; and every 401 says which scheme to use."""

import pytest
from fastapi.testclient import TestClient

from pintsize.review.app import create_app
from pintsize.review.config import ServerConfig

JSON = {"content-type": "application/json"}


@pytest.fixture
def client(db):
    return TestClient(create_app(db, ServerConfig(max_request_bytes=2048)))


def _labels(db) -> int:
    with db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]


def test_a_lone_surrogate_is_a_400_even_before_sign_in(client, db, tokens):
    r = client.post("/api/session", content=rb'{"token":"\ud800aaaaaaaaaaaaaaaaaaaa"}', headers=JSON)
    assert r.status_code == 400 and r.json()["detail"].startswith("token: ") and "lone UTF-16 surrogate" in r.json()["detail"]

    auth = {**JSON, "Authorization": f"Bearer {tokens['alice']}"}
    doc = client.get("/api/next", headers=auth).json()["document"]["id"]
    body = f'{{"doc_id":"{doc}","decision":"accept","educational_value":3,"note":"good \\udfff"}}'.encode()
    r = client.post("/api/labels", content=body, headers=auth)
    assert r.status_code == 400 and r.json()["detail"].startswith("note: ")
    assert _labels(db) == 0


def test_a_body_over_the_limit_is_413_and_a_small_one_still_works(client, db, tokens):
    auth = {**JSON, "Authorization": f"Bearer {tokens['alice']}"}
    doc = client.get("/api/next", headers=auth).json()["document"]["id"]
    big = b'{"doc_id":"' + b"x" * 4096 + b'"}'
    r = client.post("/api/skip", content=big, headers=auth)
    assert r.status_code == 413 and r.text == "Content Too Large"  # by its Content-Length: Starlette's own answer
    r = client.post("/api/session", content=(b"x" * 1024 for _ in range(8)), headers=JSON)  # streamed, no Content-Length
    assert r.status_code == 413 and "limit of 2048 bytes" in r.json()["detail"]
    # JSON's integer 3.0 is 3 (the schema says "integer"); strings and fractions are still refused
    good = {"doc_id": doc, "decision": "accept", "educational_value": 3.0}
    assert client.post("/api/labels", json=good, headers=auth).status_code == 200
    assert _labels(db) == 1


def test_the_default_limit_is_64_kib(db, tokens):
    assert ServerConfig().max_request_bytes == 64 * 1024
    client = TestClient(create_app(db))
    assert client.post("/api/session", json={"token": "a" * 70_000}).status_code == 413


def test_every_401_names_the_bearer_scheme(client, tokens):
    r = client.post("/api/session", json={"token": "z" * 32})  # unknown token
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    for headers in ({}, {"Authorization": "Bearer " + "z" * 32}, {"Authorization": "Basic abc"}):
        r = client.get("/api/me", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", headers
    assert client.get("/api/me", headers={"Authorization": f"bearer {tokens['alice']}"}).status_code == 200


def test_the_schema_documents_the_errors(db):
    paths = create_app(db).openapi()["paths"]
    assert {"400", "401", "403", "404", "413", "422"} <= set(paths["/api/labels"]["post"]["responses"])
    assert {"400", "401", "413", "422"} <= set(paths["/api/session"]["post"]["responses"])
