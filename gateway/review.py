"""Approval of hot-list entries and sources, and the state of each imported source.

A manual entry is requested by whoever enters it and matches only after a manager approves it.
An imported list (NCIC, a state system) is approved once as a source: its entries, at every
re-import, are approved by that approval, not line by line.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.store import RefusedError, Store


def review_entry(
    store: Store, entry_id: int, user: str, approve: bool, reason: str = ""
) -> sqlite3.Row:
    """Approve or reject a requested entry; returns the entry as it was. RefusedError says why not."""
    if not user.strip():
        raise RefusedError("reviewing an entry needs a user")
    if not approve and not reason.strip():
        raise RefusedError("rejecting an entry needs a reason")
    db = store.connect()
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT * FROM hotlist WHERE id=?", (entry_id,)).fetchone()
        if row is None:
            raise RefusedError(f"no hot-list entry {entry_id}")
        if row["cancelled_at"] is not None:
            raise RefusedError(f"entry {entry_id} is cancelled")
        if row["status"] != "requested":
            by = row["approved_by"] or "?"
            raise RefusedError(f"entry {entry_id} is already {row['status']} (by {by})")
        if str(row["entered_by"] or "").startswith("import:"):
            raise RefusedError(
                f"entry {entry_id} came with source {row['source']}: approve the source"
                f" (alpr hotlist approve-source {row['source']})"
            )
        now = time.time()
        if approve:
            db.execute(
                "UPDATE hotlist SET status='approved', approved_by=?, approved_at=? WHERE id=?",
                (user, now, entry_id),
            )
        else:
            db.execute(
                "UPDATE hotlist SET status='rejected', approved_by=?, approved_at=?,"
                " reject_reason=? WHERE id=?",
                (user, now, reason.strip(), entry_id),
            )
        action = "approved" if approve else "rejected"
        store._history(db, entry_id, user, action, reason.strip() or action)
        store._bump_hotlist_version(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return row


def approve_source(store: Store, source: str, user: str, note: str = "") -> int:
    """Approve an imported source as a whole: its entries now and at every later import match.

    Returns how many waiting imported entries became approved."""
    source = source.strip()
    if not source or not user.strip():
        raise RefusedError("approving a source needs the source and a user")
    db = store.connect()
    now = time.time()
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "INSERT INTO hotlist_sources (source, approved_by, approved_at, approval_note)"
            " VALUES (?,?,?,?) ON CONFLICT(source) DO UPDATE SET approved_by=excluded.approved_by,"
            " approved_at=excluded.approved_at, approval_note=excluded.approval_note",
            (source, user, now, note.strip()),
        )
        cur = db.execute(
            "UPDATE hotlist SET status='approved', approved_by=?, approved_at=?"
            " WHERE source=? AND status='requested' AND entered_by=?",
            (user, now, source, f"import:{source}"),
        )
        store._bump_hotlist_version(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return cur.rowcount


def note_attempt(store: Store, source: str, error: str | None, now: float | None = None) -> None:
    """Record an import tried (by the schedule or at start) and why it failed, if it did."""
    store.connect().execute(
        "INSERT INTO hotlist_sources (source, last_attempt, last_error) VALUES (?,?,?)"
        " ON CONFLICT(source) DO UPDATE SET last_attempt=excluded.last_attempt,"
        " last_error=excluded.last_error",
        (source, time.time() if now is None else now, error),
    )


@dataclass(frozen=True)
class SourceState:
    source: str
    approved_by: str | None
    imported_at: float | None
    entries: int
    last_error: str | None
    max_age_hours: float | None  # None: not a configured feed

    def age_hours(self, now: float) -> float | None:
        return None if self.imported_at is None else (now - self.imported_at) / 3600

    def stale(self, now: float) -> bool:
        """A configured feed not imported within its max_age_hours (or never)."""
        if self.max_age_hours is None:
            return False
        age = self.age_hours(now)
        return age is None or age > self.max_age_hours

    def as_dict(self, now: float) -> dict[str, Any]:
        age = self.age_hours(now)
        return {
            "source": self.source,
            "approved_by": self.approved_by,
            "entries": self.entries,
            "age_hours": None if age is None else round(age, 1),
            "max_age_hours": self.max_age_hours,
            "stale": self.stale(now),
            "last_error": self.last_error,
        }


def source_states(store: Store, configured: Iterable[Any]) -> list[SourceState]:
    """Every imported or configured source; `configured` are the config's [[hotlists]]."""
    rows = {r["source"]: r for r in store.connect().execute("SELECT * FROM hotlist_sources")}
    ages = {c.source: c.max_age_hours for c in configured}
    out = []
    for name in sorted({*rows, *ages}):
        r = rows.get(name)
        out.append(
            SourceState(
                name,
                r["approved_by"] if r else None,
                r["imported_at"] if r else None,
                int(r["entries"] or 0) if r else 0,
                r["last_error"] if r else None,
                ages.get(name),
            )
        )
    return out
