"""Searches waiting for a manager's approval (`[search] approval = "supervisor"`).

A request keeps the filters and the justification as asked; a manager other than the requester
approves or refuses it; the requester then runs it once. Each step is also in the audit log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.access.audit import iso
from gateway.access.db import AccessDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS search_requests (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    requester TEXT NOT NULL,
    query TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    decided_by TEXT,
    decided_at TEXT,
    note TEXT,
    ran_at TEXT
)
"""


class RequestError(ValueError):
    """The request cannot move as asked; the message says why."""


@dataclass(frozen=True)
class SearchRequest:
    id: int
    created: str
    requester: str
    query: dict[str, Any]
    status: str  # pending, approved, refused, done
    decided_by: str | None
    note: str | None


def _conn(db: AccessDB) -> Any:
    conn = db.connect()
    conn.execute(SCHEMA)
    return conn


def create(db: AccessDB, requester: str, query: dict[str, Any]) -> int:
    cur = _conn(db).execute(
        "INSERT INTO search_requests (created, requester, query) VALUES (?, ?, ?)",
        (iso(), requester, json.dumps(query, sort_keys=True)),
    )
    return int(cur.lastrowid)


def get(db: AccessDB, request_id: int) -> SearchRequest:
    row = _conn(db).execute("SELECT * FROM search_requests WHERE id=?", (request_id,)).fetchone()
    if row is None:
        raise RequestError(f"no search request {request_id}")
    return SearchRequest(
        row["id"],
        row["created"],
        row["requester"],
        json.loads(row["query"]),
        row["status"],
        row["decided_by"],
        row["note"],
    )


def decide(db: AccessDB, request_id: int, manager: str, approve: bool, note: str) -> SearchRequest:
    """Approve or refuse a pending request; nobody decides their own."""
    req = get(db, request_id)
    if req.status != "pending":
        raise RequestError(f"search request {request_id} is {req.status}, not pending")
    if req.requester == manager:
        raise RequestError(f"search request {request_id}: nobody approves their own search")
    _conn(db).execute(
        "UPDATE search_requests SET status=?, decided_by=?, decided_at=?, note=? WHERE id=?",
        ("approved" if approve else "refused", manager, iso(), note, request_id),
    )
    return get(db, request_id)


def take(db: AccessDB, request_id: int, user: str) -> SearchRequest:
    """The approved request, marked run: only its requester runs it, and only once."""
    req = get(db, request_id)
    if req.requester != user:
        raise RequestError(f"search request {request_id} belongs to {req.requester}")
    if req.status != "approved":
        raise RequestError(f"search request {request_id} is {req.status}, not approved")
    cur = _conn(db).execute(
        "UPDATE search_requests SET status='done', ran_at=? WHERE id=? AND status='approved'",
        (iso(), request_id),
    )
    if cur.rowcount != 1:
        raise RequestError(f"search request {request_id} was run already")
    return req


def pending(db: AccessDB) -> list[SearchRequest]:
    ids = [
        r["id"] for r in _conn(db).execute("SELECT id FROM search_requests WHERE status='pending'")
    ]
    return [get(db, i) for i in ids]
