"""The audit log: every label, change, undo, skip, sign-in and reviewer change, with who, when,
what and the previous value. Rows are only ever appended (the schema's triggers refuse updates
and deletes), and each is written in the same transaction as the change it records."""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from typing import Any


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def record(
    conn: sqlite3.Connection,
    reviewer: str | None,
    action: str,
    doc_id: str | None = None,
    old: Any = None,
    new: Any = None,
    ref: int | None = None,
) -> int:
    """Append one entry inside the caller's transaction; returns its id."""
    cur = conn.execute(
        "INSERT INTO audit (ts, reviewer, action, doc_id, old, new, ref) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            now_iso(),
            reviewer,
            action,
            doc_id,
            None if old is None else json.dumps(old, sort_keys=True),
            None if new is None else json.dumps(new, sort_keys=True),
            ref,
        ),
    )
    return int(cur.lastrowid)


def entries(conn: sqlite3.Connection, reviewer: str | None = None, doc_id: str | None = None, limit: int = 1000) -> list[dict]:
    """The newest entries first, with `old` and `new` decoded."""
    where, args = [], []
    if reviewer is not None:
        where.append("reviewer = ?")
        args.append(reviewer)
    if doc_id is not None:
        where.append("doc_id = ?")
        args.append(doc_id)
    sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
    rows = conn.execute(sql, (*args, limit)).fetchall()
    out = []
    for r in rows:
        e = dict(r)
        e["old"] = None if e["old"] is None else json.loads(e["old"])
        e["new"] = None if e["new"] is None else json.loads(e["new"])
        out.append(e)
    return out
