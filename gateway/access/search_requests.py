"""Searches waiting for a manager's approval (`[search] approval = "supervisor"`).

A request keeps the filters and the justification as asked; a manager other than the requester
approves or refuses it; the requester then runs it once. Each step is also in the audit log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.access import audit
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


def file(
    db: AccessDB, requester: str, filters: dict[str, Any], purpose: str, why: str, source: str
) -> int:
    """A search asked for and not run: the request, and its `inquiry` record (no results)."""
    query = {"filters": filters, "purpose": purpose, "why": why}
    rid = create(db, requester, query)
    audit.append(
        db, requester, "search request", kind="inquiry", what={"request": rid, **query},
        why=why, source=source,
    )  # fmt: skip
    return rid


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


def decide(
    db: AccessDB, request_id: int, manager: str, approve: bool, note: str, source: str
) -> SearchRequest:
    """Approve or refuse a pending request (recorded in the audit log); nobody decides their own."""
    req = get(db, request_id)
    if req.status != "pending":
        raise RequestError(f"search request {request_id} is {req.status}, not pending")
    if req.requester == manager:
        raise RequestError(f"search request {request_id}: nobody approves their own search")
    _conn(db).execute(
        "UPDATE search_requests SET status=?, decided_by=?, decided_at=?, note=? WHERE id=?",
        ("approved" if approve else "refused", manager, iso(), note, request_id),
    )
    req = get(db, request_id)
    audit.append(
        db, manager, f"search {req.status}", kind="inquiry",
        what={"request": req.id, "requester": req.requester, "query": req.query},
        why=note or f"{req.status} search request {req.id}", source=source,
    )  # fmt: skip
    return req


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


def of_requester(db: AccessDB, requester: str, limit: int = 50) -> list[SearchRequest]:
    """Someone's own requests, newest first: what they wait for and what they may run."""
    rows = _conn(db).execute(
        "SELECT id FROM search_requests WHERE requester=? ORDER BY id DESC LIMIT ?",
        (requester, limit),
    )
    return [get(db, r["id"]) for r in rows]
