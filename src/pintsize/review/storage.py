"""The review database: one SQLite file in WAL mode, opened per operation so any thread may use it.

Durability: WAL with `synchronous=FULL` fsyncs every commit, so a label the server has
acknowledged survives the process being killed (or the machine losing power) at any moment;
an interrupted transaction is rolled back by SQLite on the next open. Writers take the lock
up front (`BEGIN IMMEDIATE`) so concurrent reviewers queue on `busy_timeout` instead of
failing with "database is locked" halfway through a read-then-write.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pintsize.errors import PintsizeError

SCHEMA_VERSION = "1"
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reviewers (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    reviewer TEXT NOT NULL REFERENCES reviewers(name),
    csrf TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL,
    scores TEXT NOT NULL,
    required INTEGER NOT NULL CHECK (required IN (1, 2)),
    strategy TEXT NOT NULL,
    added TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    doc_id TEXT NOT NULL REFERENCES documents(id),
    reviewer TEXT NOT NULL REFERENCES reviewers(name),
    label INTEGER NOT NULL CHECK (label IN (0, 1)),
    educational_value INTEGER NOT NULL CHECK (educational_value BETWEEN 0 AND 5),
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (doc_id, reviewer)
);
CREATE INDEX IF NOT EXISTS labels_by_reviewer ON labels (reviewer);
CREATE TABLE IF NOT EXISTS assignments (
    doc_id TEXT NOT NULL REFERENCES documents(id),
    reviewer TEXT NOT NULL REFERENCES reviewers(name),
    until REAL NOT NULL,
    PRIMARY KEY (doc_id, reviewer)
);
CREATE TABLE IF NOT EXISTS skips (
    doc_id TEXT NOT NULL REFERENCES documents(id),
    reviewer TEXT NOT NULL REFERENCES reviewers(name),
    ts TEXT NOT NULL,
    PRIMARY KEY (doc_id, reviewer)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    reviewer TEXT,
    action TEXT NOT NULL,
    doc_id TEXT,
    old TEXT,
    new TEXT,
    ref INTEGER REFERENCES audit(id)
);
CREATE INDEX IF NOT EXISTS audit_by_reviewer ON audit (reviewer, action);
CREATE INDEX IF NOT EXISTS audit_by_ref ON audit (ref);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS learning_curve (
    n_labels INTEGER PRIMARY KEY,
    accuracy REAL NOT NULL,
    n_test INTEGER NOT NULL,
    computed TEXT NOT NULL
);
"""


class ReviewDB:
    """A review database file. `read()` and `write()` each open a short-lived connection."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise PintsizeError(f"{self.path}: no review database here (start one with `pintsize review serve` or `add-reviewer`)")
        if not self.path.parent.is_dir():
            raise PintsizeError(f"{self.path}: the directory {self.path.parent} does not exist")
        try:
            conn = self._connect()
            try:
                if not create and conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone() is None:
                    raise PintsizeError(f"{self.path}: not a review database (it has no review tables; an empty file?)")
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
                version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            raise PintsizeError(f"{self.path}: not a review database ({e})") from None
        if version != SCHEMA_VERSION:
            raise PintsizeError(f"{self.path}: review database schema {version}, this pintsize reads {SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; `write()` says BEGIN IMMEDIATE itself.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
