"""No access without a valid token; sessions; CSRF protection on every state-changing request."""

import pytest
from fastapi.testclient import TestClient

from pintsize.review.app import create_app
from pintsize.review.reviewers import add_reviewer, revoke_reviewer
from pintsize.review.security import CSRF_HEADER, SESSION_COOKIE

API_READS = ["/api/me", "/api/next", "/api/stats"]


@pytest.fixture
def client(db):
    return TestClient(create_app(db))


def sign_in(client, token) -> str:
    response = client.post("/api/session", json={"token": token})
    assert response.status_code == 200, response.text
    return response.json()["csrf"]


def test_everything_needs_a_valid_token(client, tokens):
    for path in API_READS:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer " + "x" * 43}).status_code == 401
        assert client.get(path, headers={"Authorization": "Basic " + tokens["alice"]}).status_code == 401
        assert client.get(path, cookies={SESSION_COOKIE: "forged"}).status_code == 401
    for path, body in [("/api/labels", {"doc_id": "x", "decision": "accept", "educational_value": 3}), ("/api/skip", {"doc_id": "x"}), ("/api/undo", None)]:
        assert client.post(path, json=body).status_code == 401
    assert client.post("/api/session", json={"token": "wrong-token-wrong-token"}).status_code == 401
    # the pages send strangers to the sign-in page
    for page in ("/", "/stats"):
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/login").status_code == 200


def test_bearer_tokens_work_without_csrf(client, tokens):
    auth = {"Authorization": f"Bearer {tokens['bob']}"}
    assert client.get("/api/me", headers=auth).json()["reviewer"] == "bob"
    doc = client.get("/api/next", headers=auth).json()["document"]
    response = client.post("/api/labels", headers=auth, json={"doc_id": doc["id"], "decision": "reject", "educational_value": 0})
    assert response.status_code == 200


def test_sessions_sign_in_and_out(client, tokens, db):
    csrf = sign_in(client, tokens["alice"])
    cookie = client.cookies[SESSION_COOKIE]
    me = client.get("/api/me").json()
    assert me["reviewer"] == "alice" and me["csrf"] == csrf
    assert client.get("/", follow_redirects=False).status_code == 200
    # only hashes are stored: neither the token nor the session id appears in the database file
    raw = b"".join(p.read_bytes() for p in db.path.parent.glob(db.path.name + "*"))  # with any -wal file
    assert tokens["alice"].encode() not in raw and cookie.encode() not in raw

    assert client.delete("/api/session", headers={CSRF_HEADER: csrf}).status_code == 200
    assert client.get("/api/me", cookies={SESSION_COOKIE: cookie}).status_code == 401


def test_revoked_and_replaced_tokens_stop_working(client, tokens, db):
    sign_in(client, tokens["alice"])
    revoke_reviewer(db, "alice")
    assert client.get("/api/me").status_code == 401  # the session ended too
    assert client.post("/api/session", json={"token": tokens["alice"]}).status_code == 401
    new = add_reviewer(db, "alice", replace=True)
    assert client.post("/api/session", json={"token": tokens["alice"]}).status_code == 401
    sign_in(client, new)


def test_state_changes_with_a_cookie_need_the_csrf_token(client, tokens, db):
    csrf = sign_in(client, tokens["alice"])
    doc = client.get("/api/next").json()["document"]
    body = {"doc_id": doc["id"], "decision": "accept", "educational_value": 4}
    for headers in ({}, {CSRF_HEADER: ""}, {CSRF_HEADER: csrf[:-1] + "x"}):
        assert client.post("/api/labels", json=body, headers=headers).status_code == 403
        assert client.post("/api/skip", json={"doc_id": doc["id"]}, headers=headers).status_code == 403
        assert client.post("/api/undo", headers=headers).status_code == 403
        assert client.delete("/api/session", headers=headers).status_code == 403
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM skips").fetchone()[0] == 0
    # another reviewer's CSRF token does not do either
    other = TestClient(create_app(db))
    other_csrf = sign_in(other, tokens["bob"])
    assert client.post("/api/labels", json=body, headers={CSRF_HEADER: other_csrf}).status_code == 403
    assert client.post("/api/labels", json=body, headers={CSRF_HEADER: csrf}).status_code == 200


def test_cross_site_requests_are_refused_even_with_the_token(client, tokens):
    csrf = sign_in(client, tokens["alice"])
    doc = client.get("/api/next").json()["document"]
    body = {"doc_id": doc["id"], "decision": "accept", "educational_value": 4}
    evil = {CSRF_HEADER: csrf, "Origin": "https://evil.example"}
    assert client.post("/api/labels", json=body, headers=evil).status_code == 403
    assert client.post("/api/session", json={"token": tokens["alice"]}, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/api/labels", json=body, headers={CSRF_HEADER: csrf, "Sec-Fetch-Site": "cross-site"}).status_code == 403
    # a form post (the one cross-site request a browser sends without a preflight) is not JSON and is refused
    form = client.post("/api/labels", data={"doc_id": doc["id"], "decision": "accept", "educational_value": "4"}, headers={CSRF_HEADER: csrf})
    assert form.status_code == 422
    same = {CSRF_HEADER: csrf, "Origin": "http://testserver"}
    assert client.post("/api/labels", json=body, headers=same).status_code == 200


def test_responses_carry_protective_headers(client):
    headers = client.get("/login").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"


def test_session_cookie_flags(client, tokens):
    response = client.post("/api/session", json={"token": tokens["alice"]})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
