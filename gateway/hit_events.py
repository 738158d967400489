"""What came of a hit, as an append-only history (`hit_events`): verification, disposition, outcome.

Nothing is overwritten: the current disposition or outcome is the latest event of its kind, and the
store's triggers refuse an UPDATE or DELETE of a history row and a disposition before any
verification, so the rule holds for every writer, not only this module.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from gateway.store import RefusedError, Store

SYSTEMS_HINT = "NCIC or the state system (e.g. MULES, ACIC)"
RESULTS = ("confirmed", "not-wanted", "mismatch", "deferred")
DISPOSITIONS = ("confirmed", "misread", "no-longer-wanted", "not-located", "other")
OVERDUE = "overdue-alert"


@dataclass(frozen=True)
class Outcome:
    """The fields the records system takes from a hit."""

    report_number: str = ""
    arrest: bool = False
    arrest_number: str = ""
    vehicle_recovered: bool = False
    person_located: bool = False
    actionable: bool = False  # an "actionable ALPR hit" for the records system

    def check(self) -> None:
        if self.arrest and not self.arrest_number.strip():
            raise RefusedError("an arrest needs its arrest number")
        if not self.arrest and self.arrest_number.strip():
            raise RefusedError("an arrest number goes only with an arrest")

    def summary(self) -> str:
        parts = [f"report {self.report_number}" if self.report_number else "no report"]
        parts.append(f"arrest {self.arrest_number}" if self.arrest else "no arrest")
        if self.vehicle_recovered:
            parts.append("vehicle recovered")
        if self.person_located:
            parts.append("person located")
        parts.append("actionable" if self.actionable else "not actionable")
        return ", ".join(parts)


def _hit(db: sqlite3.Connection, hit_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = db.execute("SELECT * FROM hits WHERE id=?", (hit_id,)).fetchone()
    if row is None:
        raise RefusedError(f"no hit {hit_id}")
    return row


def _append(
    store: Store,
    hit_id: int,
    user: str,
    kind: str,
    status: str,
    note: str = "",
    system: str | None = None,
    checked_at: float | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    if not user.strip():
        raise RefusedError("every hit event needs a user")
    db = store.connect()
    _hit(db, hit_id)
    try:
        cur = db.execute(
            "INSERT INTO hit_events (hit_id, at, user, kind, status, system, checked_at, note,"
            " detail) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                hit_id,
                time.time(),
                user.strip(),
                kind,
                status,
                system,
                checked_at,
                note.strip(),
                json.dumps(detail or {}, sort_keys=True),
            ),
        )
    except sqlite3.IntegrityError as exc:  # a trigger refused it
        raise RefusedError(str(exc)) from None
    return int(cur.lastrowid or 0)


def verify(
    store: Store,
    hit_id: int,
    user: str,
    system: str,
    result: str,
    note: str = "",
    checked_at: float | None = None,
) -> int:
    """Record which system was checked, when, by whom and with what result (or that it was deferred)."""
    if result not in RESULTS:
        raise RefusedError(f"result: {result!r} is not one of {', '.join(RESULTS)}")
    if not system.strip():
        raise RefusedError(f"name the system checked: {SYSTEMS_HINT}")
    when = time.time() if checked_at is None else checked_at
    return _append(store, hit_id, user, "verification", result, note, system.strip(), when)


def verification(store: Store, hit_id: int) -> sqlite3.Row | None:
    """The latest verification record of a hit, or None."""
    row: sqlite3.Row | None = (
        store.connect()
        .execute(
            "SELECT * FROM hit_events WHERE hit_id=? AND kind='verification' ORDER BY id DESC",
            (hit_id,),
        )
        .fetchone()
    )
    return row


def dispose(store: Store, hit_id: int, user: str, status: str, note: str) -> int:
    """Close (or re-close) a hit: a new disposition event; refused without a verification record."""
    if status not in DISPOSITIONS:
        raise RefusedError(f"status: {status!r} is not one of {', '.join(DISPOSITIONS)}")
    if not note.strip():
        raise RefusedError("a disposition needs a note")
    _hit(store.connect(), hit_id)
    if verification(store, hit_id) is None:
        raise RefusedError(
            f"hit {hit_id} has no verification record: record the check first"
            f" (alpr hits verify {hit_id} --system NCIC --result ...)"
        )
    return _append(store, hit_id, user, "disposition", status, note)


def record_outcome(store: Store, hit_id: int, user: str, outcome: Outcome, note: str = "") -> int:
    """Record the outcome fields (a later outcome supersedes, never erases, an earlier one)."""
    outcome.check()
    detail = {k: getattr(outcome, k) for k in Outcome.__dataclass_fields__}
    return _append(store, hit_id, user, "outcome", outcome.summary(), note, detail=detail)


def history(store: Store, hit_id: int) -> list[sqlite3.Row]:
    return (
        store.connect()
        .execute("SELECT * FROM hit_events WHERE hit_id=? ORDER BY id", (hit_id,))
        .fetchall()
    )


def latest(store: Store, hit_id: int, kind: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = (
        store.connect()
        .execute(
            "SELECT * FROM hit_events WHERE hit_id=? AND kind=? ORDER BY id DESC", (hit_id, kind)
        )
        .fetchone()
    )
    return row


def overdue(store: Store, open_hit_hours: float, now: float | None = None) -> list[sqlite3.Row]:
    """Hits without a disposition, older than `open_hit_hours` (config [hits] open_alert_hours)."""
    before = (time.time() if now is None else now) - open_hit_hours * 3600
    return (
        store.connect()
        .execute(
            "SELECT * FROM hits WHERE disposition IS NULL AND created < ? ORDER BY id", (before,)
        )
        .fetchall()
    )
