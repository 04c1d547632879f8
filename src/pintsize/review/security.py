"""Who is asking, and may they change anything: FastAPI dependencies and middleware.

Browsers sign in once with their token and then carry an HttpOnly, SameSite=Strict session
cookie. Because a cookie is sent automatically, every state-changing request made with it
must also carry the session's CSRF token in a header (the synchronizer-token pattern), which
a page on another origin cannot read. Scripts may instead send `Authorization: Bearer TOKEN`,
which a browser never adds by itself, so those requests need no CSRF token. As a second line,
unsafe requests whose Origin or Sec-Fetch-Site says they come from another site are refused.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

from pintsize.review.reviewers import reviewer_for_token, session_for
from pintsize.review.storage import ReviewDB

SESSION_COOKIE = "pintsize_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


@dataclass(frozen=True)
class Caller:
    reviewer: str
    csrf: str | None  # None when signed in with a bearer token (no ambient credential)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request) -> Caller:
    """The signed-in reviewer, from a bearer token or a session cookie; 401 otherwise."""
    db: ReviewDB = request.app.state.db
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        with db.read() as conn:
            name = reviewer_for_token(conn, token.strip())
        if name is None:
            raise _unauthorized("unknown or revoked reviewer token")
        return Caller(name, None)
    session_id = request.cookies.get(SESSION_COOKIE)
    session = session_for(db, session_id) if session_id else None
    if session is None:
        raise _unauthorized("sign in first")
    return Caller(session.reviewer, session.csrf)


def authenticate_change(request: Request) -> Caller:
    """As `authenticate`, and a cookie session must also present its CSRF token (403 otherwise)."""
    caller = authenticate(request)
    if caller.csrf is not None:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), caller.csrf.encode()):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
    return caller


def _same_origin(request: Request, origin: str) -> bool:
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


class SecurityMiddleware(BaseHTTPMiddleware):
    """Refuses cross-site unsafe requests and adds protective headers to every response."""

    async def dispatch(self, request: Request, call_next):
        if request.method in UNSAFE_METHODS:
            origin = request.headers.get("origin")
            if (origin is not None and not _same_origin(request, origin)) or request.headers.get("sec-fetch-site") == "cross-site":
                return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response
