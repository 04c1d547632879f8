"""Every input is validated before it touches the database; no parameter reaches outside the app's files."""

import http.client

import pytest
from fastapi.testclient import TestClient

from pintsize.review.app import create_app


@pytest.fixture
def client(db, tokens):
    client = TestClient(create_app(db))
    client.headers["Authorization"] = f"Bearer {tokens['alice']}"
    return client


def _label_count(db) -> int:
    with db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]


def test_bad_label_bodies_are_422_and_name_the_field(client, db):
    doc = client.get("/api/next").json()["document"]["id"]
    good = {"doc_id": doc, "decision": "accept", "educational_value": 3, "note": ""}
    bad = [
        ({**good, "educational_value": 6}, "educational_value"),
        ({**good, "educational_value": -1}, "educational_value"),
        ({**good, "educational_value": "3"}, "educational_value"),  # strings are not numbers
        ({**good, "educational_value": 3.5}, "educational_value"),
        ({**good, "educational_value": True}, "educational_value"),
        ({**good, "decision": "maybe"}, "decision"),
        ({**good, "note": "x" * 2001}, "note"),
        ({**good, "doc_id": ""}, "doc_id"),
        ({**good, "doc_id": "x" * 513}, "doc_id"),
        ({**good, "reviewer": "bob"}, "reviewer"),  # no field lets a caller speak for someone else
        ({k: v for k, v in good.items() if k != "decision"}, "decision"),
    ]
    for body, field in bad:
        response = client.post("/api/labels", json=body)
        assert response.status_code == 422, body
        assert any(field in err["loc"] for err in response.json()["detail"]), (field, response.json())
    assert client.post("/api/labels", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
    assert client.post("/api/labels", json=[good]).status_code == 422
    assert _label_count(db) == 0
    assert client.post("/api/labels", json=good).status_code == 200
    assert _label_count(db) == 1


def test_unknown_documents_are_404(client, db):
    for doc_id in ("nope", "../../etc/passwd", "pydoc:os' OR '1'='1"):
        response = client.post("/api/labels", json={"doc_id": doc_id, "decision": "reject", "educational_value": 0})
        assert response.status_code == 404 and doc_id in response.json()["detail"]
        assert client.post("/api/skip", json={"doc_id": doc_id}).status_code == 404
    assert _label_count(db) == 0


def test_sign_in_body_is_validated(db):
    client = TestClient(create_app(db))
    for body in ({}, {"token": "short"}, {"token": "x" * 300}, {"token": 12345678901234567890}, {"token": "a" * 20, "as": "admin"}):
        assert client.post("/api/session", json=body).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e/%2e%2e/review/app.py",
        "/static/../../../../../../etc/passwd",
        "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/..\\app.py",
    ],
)
def test_no_path_traversal(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"root:" not in response.content and b"create_app" not in response.content


def test_the_app_serves_its_own_assets(client):
    for path in ("/static/style.css", "/static/review.js", "/static/common.js"):
        assert client.get(path).status_code == 200


def test_no_path_traversal_in_raw_requests(live_server):
    """Sent byte for byte (an HTTP client library would normalise the dots away first)."""
    host, port = live_server.removeprefix("http://").split(":")
    for path in ("/static/../app.py", "/static/../../../../etc/passwd", "/static/./../storage.py"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status == 404, path
        assert b"root:" not in body and b"import" not in body
