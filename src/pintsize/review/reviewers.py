"""Reviewers, their tokens and their sign-in sessions.

Only SHA-256 hashes of tokens and session ids are stored, so a copy of the database does not
let anyone sign in. A plain hash (not a slow password hash) is right here: tokens are 256-bit
random strings made by `secrets`, not guessable passwords.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from pintsize.errors import PintsizeError
from pintsize.review import audit
from pintsize.review.storage import ReviewDB

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def add_reviewer(db: ReviewDB, name: str, replace: bool = False) -> str:
    """Create a reviewer (or give an existing one a new token with `replace`); returns the token,
    which is shown once and never stored."""
    if not re.match(NAME_PATTERN, name):
        raise PintsizeError(f"reviewer name {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    token = secrets.token_urlsafe(32)
    with db.write() as conn:
        exists = conn.execute("SELECT 1 FROM reviewers WHERE name=?", (name,)).fetchone()
        if exists and not replace:
            raise PintsizeError(f"{db.path}: reviewer {name!r} already exists (use --replace to issue a new token)")
        if exists:
            conn.execute("UPDATE reviewers SET token_hash=?, active=1 WHERE name=?", (hash_secret(token), name))
            conn.execute("DELETE FROM sessions WHERE reviewer=?", (name,))
        else:
            conn.execute("INSERT INTO reviewers VALUES (?, ?, ?, 1)", (name, hash_secret(token), audit.now_iso()))
        audit.record(conn, None, "token-replaced" if exists else "reviewer-added", new={"reviewer": name})
    return token


def revoke_reviewer(db: ReviewDB, name: str) -> None:
    """Disable a reviewer's token and end their sessions; their labels stay."""
    with db.write() as conn:
        if conn.execute("UPDATE reviewers SET active=0 WHERE name=? AND active=1", (name,)).rowcount == 0:
            raise PintsizeError(f"{db.path}: no active reviewer {name!r}")
        conn.execute("DELETE FROM sessions WHERE reviewer=?", (name,))
        audit.record(conn, None, "reviewer-revoked", old={"reviewer": name, "active": True}, new={"reviewer": name, "active": False})


def list_reviewers(db: ReviewDB) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(
            "SELECT r.name, r.created, r.active, COUNT(l.doc_id) AS labels FROM reviewers r "
            "LEFT JOIN labels l ON l.reviewer = r.name GROUP BY r.name ORDER BY r.name"
        ).fetchall()
    return [dict(r) for r in rows]


def reviewer_for_token(conn: sqlite3.Connection, token: str) -> str | None:
    row = conn.execute("SELECT name FROM reviewers WHERE token_hash=? AND active=1", (hash_secret(token),)).fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class Session:
    reviewer: str
    csrf: str


def sign_in(db: ReviewDB, token: str, hours: float) -> tuple[str, Session] | None:
    """A new session for the reviewer holding `token`: (session id for the cookie, session), or None."""
    with db.write() as conn:
        name = reviewer_for_token(conn, token)
        if name is None:
            return None
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        conn.execute("DELETE FROM sessions WHERE expires < ?", (now,))
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (hash_secret(session_id), name, csrf, now + hours * 3600))
        audit.record(conn, name, "sign-in")
    return session_id, Session(name, csrf)


def session_for(db: ReviewDB, session_id: str) -> Session | None:
    with db.read() as conn:
        row = conn.execute(
            "SELECT s.reviewer, s.csrf FROM sessions s JOIN reviewers r ON r.name = s.reviewer "
            "WHERE s.id_hash=? AND s.expires > ? AND r.active=1",
            (hash_secret(session_id), time.time()),
        ).fetchone()
    return Session(row[0], row[1]) if row else None


def sign_out(db: ReviewDB, session_id: str) -> None:
    with db.write() as conn:
        row = conn.execute("DELETE FROM sessions WHERE id_hash=? RETURNING reviewer", (hash_secret(session_id),)).fetchone()
        if row:
            audit.record(conn, row[0], "sign-out")
