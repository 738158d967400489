"""The gateway's durable store: SQLite in WAL mode beside a spool of event files.

SCHEMA is the newest version; gateway/migrations.py upgrades older stores to it, so a change here
needs a numbered step there (tests/test_store_migration.py compares an upgraded store with a new one).

An event is acknowledged only after its file is fsynced and renamed into place (and the directory
fsynced), and then its row is committed with synchronous=FULL. A crash before the commit leaves at
worst an orphan file, never an acknowledged event without its frames.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from cloud.durable import fsync_write
from gateway import migrations, schema_v7
from gateway.backup import backup
from gateway.wakeup import Wakeup

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    captured REAL NOT NULL,
    received REAL NOT NULL,
    trigger TEXT NOT NULL,
    battery_v REAL,
    solar_v REAL,
    awake_ms INTEGER,
    frames INTEGER NOT NULL,
    body_sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending, read, failed
    error TEXT,
    response TEXT NOT NULL,
    UNIQUE (camera, sequence)
);
CREATE INDEX IF NOT EXISTS events_pending ON events (status, id);
CREATE TABLE IF NOT EXISTS reads (
    id TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL UNIQUE REFERENCES events (id),
    camera TEXT NOT NULL,
    site TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    heading REAL NOT NULL,
    captured REAL NOT NULL,
    received REAL NOT NULL,
    text TEXT NOT NULL,
    confidence REAL NOT NULL,
    alternates TEXT NOT NULL,
    box TEXT NOT NULL,
    frame_path TEXT NOT NULL,
    crop_path TEXT NOT NULL,
    frame_sha256 TEXT NOT NULL,
    crop_sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,   -- frame + crop, for the bounded sync queue
    read_at REAL NOT NULL,
    state TEXT,                         -- the reader's state of issuance, NULL when unsure
    state_confidence REAL,
    sync_tried INTEGER NOT NULL DEFAULT 0,  -- an upload was started: check the target before sending
    synced_at REAL,                     -- NULL until every object is in the storage target
    quarantined TEXT                    -- why the local copy failed its checksum, if it did
);
CREATE INDEX IF NOT EXISTS reads_unsynced ON reads (synced_at, captured);
CREATE INDEX IF NOT EXISTS reads_text ON reads (text);
CREATE INDEX IF NOT EXISTS reads_captured ON reads (captured);
CREATE TABLE IF NOT EXISTS heartbeats (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    received REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS heartbeats_camera ON heartbeats (camera, received);
CREATE TABLE IF NOT EXISTS hotlist (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    plate TEXT NOT NULL,
    state TEXT,
    category TEXT NOT NULL,
    case_number TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    contact TEXT NOT NULL,
    instructions TEXT NOT NULL,
    expires TEXT NOT NULL,
    added REAL NOT NULL,
    cancelled_at REAL,            -- set by `alpr hotlist remove`: a cancelled entry never matches
    cancelled_by TEXT,
    cancel_reason TEXT,
    status TEXT NOT NULL DEFAULT 'approved',  -- requested, approved, rejected: only approved match
    entered_by TEXT,              -- who typed it in (the logged-in user), or the import
    approved_by TEXT,             -- the manager who approved it, or its source
    approved_at REAL,
    request_ref TEXT,             -- the written request's reference (manual entries)
    reject_reason TEXT,
    vehicle_colour TEXT,
    vehicle_make TEXT,
    vehicle_type TEXT,
    subject TEXT,                 -- the person sought, as described
    notes TEXT,
    sites TEXT,                   -- comma-separated site ids: alerts only there (with the circle)
    lat REAL,                     -- with lon and radius_m: alerts only within the circle
    lon REAL,
    radius_m REAL
);
CREATE INDEX IF NOT EXISTS hotlist_source ON hotlist (source);
CREATE TABLE IF NOT EXISTS hotlist_history (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL,    -- no foreign key: the history outlives the entry
    at REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,         -- added, cancelled
    reason TEXT NOT NULL,
    entry TEXT NOT NULL           -- the entry as it was
);
CREATE INDEX IF NOT EXISTS hotlist_history_entry ON hotlist_history (entry_id, at);
CREATE TABLE IF NOT EXISTS hits (
    id INTEGER PRIMARY KEY,
    read_id TEXT NOT NULL,        -- kept after the read itself is purged: the hit is the audit record
    entry_id INTEGER NOT NULL,
    entry TEXT NOT NULL,          -- the hot-list entry as it was when the hit was made
    match_kind TEXT NOT NULL,     -- exact, wildcard, confusion, alternate
    matched_text TEXT NOT NULL,
    created REAL NOT NULL,
    state_differs INTEGER NOT NULL DEFAULT 0,  -- the read names another state than the entry
    disposition TEXT,             -- NULL while open
    disposition_note TEXT,
    disposition_user TEXT,
    disposition_at REAL,
    plate TEXT,                   -- the hit's own copy of its read: an open hit outlives the read
    captured REAL,
    camera TEXT,
    site TEXT,
    UNIQUE (read_id, entry_id)
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    hit_id INTEGER REFERENCES hits (id),  -- NULL for notices: a stale hot list
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (delivered_at, next_at);
CREATE TABLE IF NOT EXISTS access_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    query TEXT NOT NULL,
    results INTEGER NOT NULL,
    plates_blanked INTEGER NOT NULL DEFAULT 0, -- 1 once the plate text was removed by retention
    nonce TEXT                 -- salts the digest the audit record holds; erased with the plates
);
CREATE TABLE IF NOT EXISTS purge_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    oldest REAL,
    newest REAL,
    ids_sha256 TEXT NOT NULL      -- SHA-256 of the sorted purged ids, one per line: proof of deletion
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""" + ";\n".join(schema_v7.STATEMENTS)


INSERT_ENTRY = (
    "INSERT INTO hotlist (source, plate, state, category, case_number, reason, requested_by, contact,"
    " instructions, expires, added, status, entered_by, approved_by, request_ref, vehicle_colour,"
    " vehicle_make, vehicle_type, subject, notes, sites, lat, lon, radius_m)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def detail_digest(nonce: str, query: str) -> str:
    """What an audit record holds of the plate query it names (see `Store.add_query_detail`)."""
    return sha256(f"{nonce}\n{query}".encode())


class RefusedError(ValueError):
    """A request the store will not carry out; the message says why."""


class Store:
    """One store per data directory; each thread gets its own SQLite connection."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "gateway.db"
        self._local = threading.local()
        # Ingest threads queue here for SQLite's writer lock: SQLite's own busy handler sleeps in
        # steps of up to 100 ms, so under many cameras the lock sat free while writers slept.
        self.ingest_lock = threading.Lock()
        self.new_events = Wakeup()  # signalled after an event is committed: readers start at once
        self.new_alerts = Wakeup()  # signalled after alerts are committed: delivery starts at once
        self.new_hits = Wakeup()  # signalled after hits are committed: the console shows them at once
        migrations.prepare(self.connect(), self.root, SCHEMA)

    def backup(self, dest: Path) -> Path:
        """A consistent copy of the live store at dest (SQLite online backup API)."""
        return backup(self.connect(), dest)

    def connect(self) -> sqlite3.Connection:
        """This thread's connection: WAL, full fsync on commit, waits for the writer lock."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    # -- events ---------------------------------------------------------------------------------

    def find_event(self, camera: str, sequence: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self.connect()
            .execute(
                "SELECT id, body_sha256, response FROM events WHERE camera=? AND sequence=?",
                (camera, sequence),
            )
            .fetchone()
        )
        return row

    def add_event(
        self, camera: str, sequence: int, meta: dict[str, Any], body: bytes
    ) -> dict[str, Any] | None:
        """Store an event durably; None when (camera, sequence) was stored first by another request."""
        digest = sha256(body)
        rel = Path("spool") / camera / f"{sequence}-{digest[:12]}.evt"
        fsync_write(self.root / rel, body)
        db = self.connect()
        with self.ingest_lock:
            return self._insert_event(db, camera, sequence, meta, digest, rel)

    def _insert_event(
        self,
        db: sqlite3.Connection,
        camera: str,
        sequence: int,
        meta: dict[str, Any],
        digest: str,
        rel: Path,
    ) -> dict[str, Any] | None:
        try:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(
                "INSERT INTO events (camera, sequence, captured, received, trigger, battery_v, solar_v,"
                " awake_ms, frames, body_sha256, path, response) VALUES (?,?,?,?,?,?,?,?,?,?,?,'')",
                (
                    camera,
                    sequence,
                    float(meta["captured"]),
                    time.time(),
                    meta["trigger"],
                    meta.get("battery_v"),
                    meta.get("solar_v"),
                    meta.get("awake_ms"),
                    int(meta["frames"]),
                    digest,
                    str(rel),
                ),
            )
            event_id = cur.lastrowid
            response = {
                "event": event_id,
                "camera": camera,
                "sequence": sequence,
                "frames": int(meta["frames"]),
            }
            db.execute("UPDATE events SET response=? WHERE id=?", (json.dumps(response), event_id))
            db.execute("COMMIT")
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK")
            return None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self.new_events.notify()
        return response

    def event_body(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def claim_pending(self, limit: int = 1, claimed: set[int] | None = None) -> list[sqlite3.Row]:
        rows = (
            self.connect()
            .execute(
                "SELECT * FROM events WHERE status='pending' ORDER BY id LIMIT ?",
                (limit + len(claimed or ()),),
            )
            .fetchall()
        )
        return [r for r in rows if not claimed or r["id"] not in claimed][:limit]

    def backlog(self) -> int:
        row = (
            self.connect().execute("SELECT count(*) FROM events WHERE status='pending'").fetchone()
        )
        return int(row[0])

    def add_heartbeat(self, camera: str, body: dict[str, Any]) -> None:
        db = self.connect()
        db.execute(
            "INSERT INTO heartbeats (camera, received, body) VALUES (?,?,?)",
            (camera, time.time(), json.dumps(body)),
        )

    def add_query_detail(
        self, user: str, action: str, reason: str, query: dict[str, Any], results: int
    ) -> tuple[int, str]:
        """Keep the plate text of a search apart from the audit log, whose records never change,
        so that retention can blank it after `access_log_plates_days`.

        The audit record of the search names this row and holds `detail_digest` of it: SHA-256
        over a random nonce and the query. While the plates are kept the row can be checked
        against the chain; blanking erases the nonce too, so the digest then reveals nothing.
        Returns (row id, digest). A search without a name or a reason is refused (RefusedError).
        """
        if not user.strip():
            raise RefusedError("access log: a user is required for every look at reads or hits")
        if not reason.strip():
            raise RefusedError("access log: a reason (case number) is required for every look")
        nonce = secrets.token_hex(16)
        text = json.dumps(query, sort_keys=True)
        cur = self.connect().execute(
            "INSERT INTO access_log (at, user, action, reason, query, results, nonce)"
            " VALUES (?,?,?,?,?,?,?)",
            (time.time(), user.strip(), action, reason.strip(), text, results, nonce),
        )
        return int(cur.lastrowid or 0), detail_digest(nonce, text)

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.connect().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else default

    # -- hot lists ------------------------------------------------------------------------------

    def replace_hotlist(
        self,
        source: str,
        entries: Iterable[Any],
        accept: Callable[[int, int], None] | None = None,
    ) -> int:
        """Swap in a source's entries in one transaction: readers see the old list or the new one.

        `accept(good_entries, previous_entries)` runs before the commit; whatever it raises rolls the
        import back, so a refused file leaves the previous list active. Cancelled entries stay, with
        their history, and the file cannot bring one back: an entry with the same plate, state and
        case number as a cancelled one of this source is skipped. The entries are approved when a
        manager approved the source (`approve_source`), else requested: they match only once it is
        approved. Returns the entries now active.
        """
        db = self.connect()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            previous = int(
                db.execute(
                    "SELECT count(*) FROM hotlist WHERE source=? AND cancelled_at IS NULL",
                    (source,),
                ).fetchone()[0]
            )
            cancelled = {
                (r[0], r[1], r[2])
                for r in db.execute(
                    "SELECT plate, state, case_number FROM hotlist"
                    " WHERE source=? AND cancelled_at IS NOT NULL",
                    (source,),
                )
            }
            approval = db.execute(
                "SELECT approved_by FROM hotlist_sources WHERE source=?", (source,)
            ).fetchone()
            approver = approval[0] if approval else None
            status = "approved" if approver else "requested"
            good = [0]

            def rows() -> Iterator[tuple[object, ...]]:
                for e in entries:
                    good[0] += 1
                    if not cancelled or (e.plate, e.state, e.case_number) not in cancelled:
                        yield e.row(now, status, f"import:{source}", approver)

            db.execute("DELETE FROM hotlist WHERE source=? AND cancelled_at IS NULL", (source,))
            count = db.executemany(INSERT_ENTRY, rows()).rowcount
            if accept is not None:
                accept(good[0], previous)
            db.execute(
                "INSERT INTO hotlist_sources (source, imported_at, entries) VALUES (?,?,?)"
                " ON CONFLICT(source) DO UPDATE SET imported_at=excluded.imported_at,"
                " entries=excluded.entries",
                (source, now, count),
            )
            self._bump_hotlist_version(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return count

    def add_hotlist_entry(
        self, e: Any, user: str = "", request_ref: str = "", status: str = "requested"
    ) -> int:
        """A manual entry, requested by `user` under a written request; it matches only once a
        manager approves it (`gateway.review.review_entry`)."""
        db = self.connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            who = user or "unknown"
            cur = db.execute(INSERT_ENTRY, e.row(time.time(), status, who, None, request_ref))
            entry_id = int(cur.lastrowid or 0)
            self._history(db, entry_id, who, status, e.reason)
            self._bump_hotlist_version(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return entry_id

    def cancel_hotlist_entry(self, entry_id: int, user: str, reason: str) -> sqlite3.Row:
        """Cancel an entry for good: it never matches again, and the row and its history stay."""
        if not user.strip() or not reason.strip():
            raise RefusedError("cancelling an entry needs a user and a reason")
        db = self.connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT * FROM hotlist WHERE id=?", (entry_id,)).fetchone()
            if row is None:
                raise RefusedError(f"no hot-list entry {entry_id}")
            if row["cancelled_at"] is not None:
                when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["cancelled_at"]))
                raise RefusedError(
                    f"entry {entry_id} was already cancelled on {when}Z by {row['cancelled_by']}"
                )
            db.execute(
                "UPDATE hotlist SET cancelled_at=?, cancelled_by=?, cancel_reason=? WHERE id=?",
                (time.time(), user.strip(), reason.strip(), entry_id),
            )
            self._history(db, entry_id, user.strip(), "cancelled", reason.strip())
            self._bump_hotlist_version(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return row

    def _history(
        self, db: sqlite3.Connection, entry_id: int, user: str, action: str, reason: str
    ) -> None:
        entry = db.execute("SELECT * FROM hotlist WHERE id=?", (entry_id,)).fetchone()
        db.execute(
            "INSERT INTO hotlist_history (entry_id, at, user, action, reason, entry)"
            " VALUES (?,?,?,?,?,?)",
            (entry_id, time.time(), user, action, reason, json.dumps(dict(entry or {}))),
        )

    def hotlist_history(self, entry_id: int) -> list[sqlite3.Row]:
        return (
            self.connect()
            .execute("SELECT * FROM hotlist_history WHERE entry_id=? ORDER BY at, id", (entry_id,))
            .fetchall()
        )

    def _bump_hotlist_version(self, db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('hotlist_version', '1') ON CONFLICT(key)"
            " DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def hotlist_rows(
        self, expired: bool | None = None, today: str | None = None, cancelled: bool = False
    ) -> list[sqlite3.Row]:
        """Entries not cancelled (or only the cancelled ones); expired=True gives only the expired
        ones, False only the active ones."""
        sql = "SELECT * FROM hotlist WHERE cancelled_at IS " + ("NOT NULL" if cancelled else "NULL")
        args = []
        if expired is not None:
            day = today or time.strftime("%Y-%m-%d", time.gmtime())
            sql += " AND expires < ?" if expired else " AND expires >= ?"
            args.append(day)
        return self.connect().execute(sql + " ORDER BY id", args).fetchall()

    def hotlist_entry(self, entry_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self.connect().execute("SELECT * FROM hotlist WHERE id=?", (entry_id,)).fetchone()
        )
        return row

    def live_entry(self, entry: dict[str, Any]) -> sqlite3.Row | None:
        """The entry a hit was made on, if still listed and not cancelled: by id, or, after a
        re-import gave it a new id, by source, plate, state and case number."""
        db = self.connect()
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM hotlist WHERE id=? AND cancelled_at IS NULL", (entry.get("id"),)
        ).fetchone()
        if row is None:
            row = db.execute(
                "SELECT * FROM hotlist WHERE cancelled_at IS NULL AND source=? AND plate=?"
                " AND state IS ? AND case_number=? ORDER BY id LIMIT 1",
                (
                    entry.get("source"),
                    entry.get("plate"),
                    entry.get("state"),
                    entry.get("case_number"),
                ),
            ).fetchone()
        return row
