"""The audit log: who did what, when, from where and why, each record chained to the one before.

A record's hash is SHA-256 over its canonical JSON, which includes the previous record's hash, so an
edit, a deletion or a reordering breaks the chain at the first record touched. Deleting the newest
records or rewriting the whole chain is caught by comparing with the daily heads written to storage
that cannot be changed (`write_head`: `audit/heads/YYYY-MM-DD.json` under Object Lock retention).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from cloud.bucket import AUDIT_HEADS
from cloud.storage import Lock, Target
from gateway.access.db import AccessDB

GENESIS = "0" * 64
# inquiry: a search with a case number or reason (what the annual audit samples); view: a look that
# needs none (hot lists, survey captures); change: a record changed (dispositions, hot-list entries)
KINDS = ("inquiry", "view", "change", "login", "user", "audit", "denied", "system")
FIELDS = ("seq", "at", "user", "action", "kind", "what", "why", "source", "result_count")
HEAD_PREFIX = AUDIT_HEADS  # no lifecycle rule covers it (cloud/bucket.py)


def iso(t: float | dt.datetime | None = None) -> str:
    """UTC with microseconds, the one format stored (it sorts as text)."""
    if t is None:
        when = dt.datetime.now(dt.UTC)
    elif isinstance(t, dt.datetime):
        when = t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)
    else:
        when = dt.datetime.fromtimestamp(t, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: dict[str, Any], prev_hash: str) -> bytes:
    body = {k: record[k] for k in FIELDS}
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(record, prev_hash)).hexdigest()


def append(
    db: AccessDB,
    user: str,
    action: str,
    *,
    kind: str,
    what: dict[str, Any] | None = None,
    why: str = "",
    source: str = "",
    result_count: int = 0,
    at: float | dt.datetime | None = None,
) -> dict[str, Any]:
    """Add one record and return it. An inquiry without a case number or reason is refused."""
    conn = db.connect()
    conn.execute("BEGIN IMMEDIATE")
    try:
        record = _insert(conn, user, action, kind, what, why, source, result_count, at)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return record


def _insert(
    conn: sqlite3.Connection,
    user: str,
    action: str,
    kind: str,
    what: dict[str, Any] | None,
    why: str,
    source: str,
    result_count: int,
    at: float | dt.datetime | None,
) -> dict[str, Any]:
    """Chain one record onto the newest; the caller holds the write transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}: one of {', '.join(KINDS)}")
    if kind == "inquiry" and not why.strip():
        raise ValueError("an inquiry needs a case number or reason")
    if not user.strip() or not action.strip():
        raise ValueError("an audit record needs a user and an action")
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    if last is None:
        anchor = _anchor(conn)
        seq, prev = (anchor["first_seq"], anchor["prev_hash"]) if anchor else (1, GENESIS)
    else:
        seq, prev = last["seq"] + 1, last["hash"]
    record: dict[str, Any] = {
        "seq": seq,
        "at": iso(at),
        "user": user,
        "action": action,
        "kind": kind,
        "what": json.dumps(what or {}, sort_keys=True, separators=(",", ":")),
        "why": why.strip(),
        "source": source,
        "result_count": int(result_count),
    }
    record["prev_hash"], record["hash"] = prev, record_hash(record, prev)
    conn.execute(
        "INSERT INTO audit (seq, at, user, action, kind, what, why, source, result_count,"
        " prev_hash, hash) VALUES (:seq, :at, :user, :action, :kind, :what, :why, :source,"
        " :result_count, :prev_hash, :hash)",
        record,
    )
    return record


def _anchor(conn: sqlite3.Connection) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM audit_anchor ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return row


@dataclass(frozen=True)
class Head:
    """The newest record's place in the chain: what is written daily to locked storage."""

    seq: int
    hash: str
    at: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad: int | None = None  # seq of the first record found wrong
    problem: str = ""


def verify(db: AccessDB, heads: Iterable[Head] = ()) -> Verification:
    """Walk the chain from its anchor; then check that every exported head is still in it."""
    conn = db.connect()
    anchor = _anchor(conn)
    expect_seq, expect_prev = (anchor["first_seq"], anchor["prev_hash"]) if anchor else (1, GENESIS)
    checked = 0
    hashes: dict[int, str] = {}
    for row in conn.execute("SELECT * FROM audit ORDER BY seq"):
        record = dict(row)
        seq = record["seq"]
        if record["hash"] != record_hash(record, record["prev_hash"]):
            return Verification(
                False, checked, seq, f"record {seq}: contents do not match its hash"
            )
        if seq != expect_seq:
            return Verification(
                False, checked, seq, f"record {seq}: expected record {expect_seq} before it"
            )
        if record["prev_hash"] != expect_prev:
            return Verification(
                False, checked, seq, f"record {seq}: does not follow the record before it"
            )
        hashes[seq] = record["hash"]
        expect_seq, expect_prev = seq + 1, record["hash"]
        checked += 1
    if anchor is not None and not any(
        json.loads(r["what"]).get("first_seq") == anchor["first_seq"]
        for r in conn.execute("SELECT what FROM audit WHERE action='audit purge'")
    ):
        return Verification(False, checked, anchor["first_seq"], "the purge anchor has no record")
    first_kept = anchor["first_seq"] if anchor else 1
    for h in heads:
        if h.seq < first_kept:
            continue  # purged since: the anchor's record covers it
        if hashes.get(h.seq) != h.hash:
            return Verification(
                False, checked, h.seq, f"record {h.seq}: differs from the head exported at {h.at}"
            )
    return Verification(True, checked)


def head(db: AccessDB) -> Head | None:
    row = (
        db.connect().execute("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    )
    return Head(row["seq"], row["hash"], row["at"]) if row else None


def head_key(day: dt.date) -> str:
    return f"{HEAD_PREFIX}{day.isoformat()}.json"


def write_head(
    target: Target,
    h: Head,
    lock_days: int,
    day: dt.date | None = None,
    now: float | None = None,
) -> str:
    """Write the head under `audit/heads/YYYY-MM-DD.json`, locked (COMPLIANCE) for `lock_days`
    so that nobody, the bucket's owner included, deletes or rewrites it; return the key."""
    if lock_days < 1:
        raise ValueError(f"an audit head must be locked for at least a day, not {lock_days}")
    when = now if now is not None else dt.datetime.now(dt.UTC).timestamp()
    key = head_key(day or dt.datetime.fromtimestamp(when, dt.UTC).date())
    target.put(
        key,
        json.dumps(asdict(h), sort_keys=True).encode(),
        {"audit-seq": str(h.seq)},
        lock=Lock(when + lock_days * 86400),
    )
    return key


def parse_head(data: bytes) -> Head:
    doc = json.loads(data)
    return Head(int(doc["seq"]), str(doc["hash"]), str(doc["at"]))


def exported_heads(target: Target) -> list[Head]:
    """Every head written to the target, oldest first; a damaged one raises ValueError naming it."""
    heads = []
    for obj in target.list(HEAD_PREFIX):
        try:
            heads.append(parse_head(target.get(obj.key)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{obj.key}: not an audit head ({exc})") from None
    return sorted(heads, key=lambda h: h.seq)


def records(
    db: AccessDB,
    start: str | None = None,
    end: str | None = None,
    user: str | None = None,
    kinds: Iterable[str] = (),
) -> Iterator[dict[str, Any]]:
    """Records with start <= at < end (ISO text), oldest first."""
    sql, args = "SELECT * FROM audit WHERE 1=1", []
    if start:
        sql += " AND at >= ?"
        args.append(start)
    if end:
        sql += " AND at < ?"
        args.append(end)
    if user:
        sql += " AND user = ?"
        args.append(user)
    kinds = list(kinds)
    if kinds:
        sql += f" AND kind IN ({','.join('?' * len(kinds))})"
        args.extend(kinds)
    for row in db.connect().execute(sql + " ORDER BY seq", args):
        yield dict(row)


def purge(db: AccessDB, retention_days: int, by: str, source: str, now: float | None = None) -> int:
    """Delete records older than the retention, keeping the rest verifiable from an anchor.

    The deletion, the anchor and the record of the purge are one transaction."""
    when = now if now is not None else dt.datetime.now(dt.UTC).timestamp()
    cutoff = iso(when - retention_days * 86400)
    conn = db.connect()
    conn.execute("BEGIN IMMEDIATE")
    try:
        last_old = conn.execute("SELECT max(seq) FROM audit WHERE at < ?", (cutoff,)).fetchone()[0]
        count = 0
        if last_old is not None:
            row = conn.execute("SELECT seq, hash FROM audit WHERE seq=?", (last_old,)).fetchone()
            first_seq, prev = row["seq"] + 1, row["hash"]
            count = conn.execute("DELETE FROM audit WHERE seq <= ?", (last_old,)).rowcount
            conn.execute(
                "INSERT INTO audit_anchor (at, first_seq, prev_hash, purged) VALUES (?,?,?,?)",
                (iso(when), first_seq, prev, count),
            )
            what = {"first_seq": first_seq, "prev_hash": prev, "before": cutoff}
            _insert(conn, by, "audit purge", "system", what, "", source, count, when)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return count


def append_in(
    conn: sqlite3.Connection,
    user: str,
    action: str,
    *,
    kind: str,
    what: dict[str, Any] | None = None,
    why: str = "",
    source: str = "",
    result_count: int = 0,
) -> dict[str, Any]:
    """Add one record inside the caller's write transaction on the access database, so that a
    change and its record are committed together or not at all."""
    if not conn.in_transaction:
        raise RuntimeError("append_in needs an open write transaction")
    return _insert(conn, user, action, kind, what, why, source, result_count, None)
