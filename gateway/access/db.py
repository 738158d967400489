"""The access database: its own SQLite file beside the gateway's, so that users and the audit log
survive a rebuilt read store and can be copied to an auditor on their own."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,              -- comma-separated, sorted
    sites TEXT NOT NULL DEFAULT '',   -- comma-separated site ids an officer sees recent reads of
    enabled INTEGER NOT NULL DEFAULT 1,
    totp_secret TEXT,                 -- base32; NULL until a second factor is enrolled
    totp_last_step INTEGER NOT NULL DEFAULT 0,  -- a code is accepted once
    trained_on TEXT,                  -- ISO dates; no access without current training
    training_expires TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,  -- the token itself is never stored
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,                 -- login or api
    roles TEXT NOT NULL,                -- an API token may carry fewer roles than its user
    created REAL NOT NULL,
    expires REAL NOT NULL,
    revoked REAL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,                 -- UTC, ISO 8601 with microseconds
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,               -- inquiry, login, user, audit, denied, system
    what TEXT NOT NULL,               -- canonical JSON
    why TEXT NOT NULL,
    source TEXT NOT NULL,
    result_count INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE TABLE IF NOT EXISTS audit_anchor (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    first_seq INTEGER NOT NULL,       -- the first record kept after a purge
    prev_hash TEXT NOT NULL,          -- the hash that record points back to
    purged INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_samples (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL,
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    n INTEGER NOT NULL,
    seed TEXT NOT NULL,
    population INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_sample_items (
    id INTEGER PRIMARY KEY,
    sample_id INTEGER NOT NULL REFERENCES audit_samples (id),
    audit_seq INTEGER NOT NULL,
    record TEXT NOT NULL,             -- the inquiry as it was drawn, kept if the log is purged
    verdict TEXT,                     -- proper, improper, follow-up; NULL until reviewed
    note TEXT,
    decided_by TEXT,
    decided_at TEXT
);
CREATE TABLE IF NOT EXISTS audit_data_errors (
    id INTEGER PRIMARY KEY,
    sample_id INTEGER NOT NULL REFERENCES audit_samples (id),  -- the audit that found it
    at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    ref TEXT NOT NULL,                -- what was wrong: a read, hit, hot-list entry or record
    error TEXT NOT NULL,
    correction TEXT NOT NULL
);
"""


class AccessDB:
    """`<data_dir>/access.db`; each thread gets its own connection (WAL, full fsync on commit)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "access.db"
        self._local = threading.local()
        self.connect().executescript(SCHEMA)

    def connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db


@contextmanager
def schema_transaction(db: AccessDB, schema: str) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE) on tables that `schema` creates when missing."""
    conn = db.connect()
    conn.executescript(schema)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
