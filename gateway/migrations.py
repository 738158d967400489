"""Numbered schema versions of the gateway store, and the steps that upgrade an older store.

The version lives in `PRAGMA user_version`. Stores written before versioning carry 0 and are
treated as version 1 (the first release's schema, possibly with some later columns already added).
Opening an older store first copies it with SQLite's online backup API to
`<data_dir>/backups/store-v<N>-<timestamp>.db`, then runs each step in its own transaction, so a
failed step leaves the store at the last good version. A store newer than this code is refused:
running old code on it could drop what the newer release relies on.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from gateway import schema_v7
from gateway.backup import backup, backup_name

log = logging.getLogger("alpr.store")


class StoreVersionError(RuntimeError):
    """The store cannot be used by this release; the message says what to do."""


def add_columns(db: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    """Add the columns a table lacks; a store from an unreleased build may already have some."""
    have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    for column, decl in columns:
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def to_v2(db: sqlite3.Connection) -> None:
    """Hot-list entries can be cancelled for good, with a history of who added and cancelled."""
    add_columns(
        db,
        "hotlist",
        (("cancelled_at", "REAL"), ("cancelled_by", "TEXT"), ("cancel_reason", "TEXT")),
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS hotlist_history (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    entry TEXT NOT NULL
)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS hotlist_history_entry ON hotlist_history (entry_id, at)")


def to_v3(db: sqlite3.Connection) -> None:
    """A hit keeps its own copy of its read (an open hit outlives the read's retention)."""
    add_columns(
        db, "hits", (("plate", "TEXT"), ("captured", "REAL"), ("camera", "TEXT"), ("site", "TEXT"))
    )
    db.execute(
        "UPDATE hits SET plate=r.text, captured=r.captured, camera=r.camera, site=r.site"
        " FROM reads AS r WHERE r.id = hits.read_id AND hits.plate IS NULL"
    )


def to_v4(db: sqlite3.Connection) -> None:
    """Retention blanks the plate text of old access-log rows and marks them."""
    add_columns(db, "access_log", (("plates_blanked", "INTEGER NOT NULL DEFAULT 0"),))


def to_v5(db: sqlite3.Connection) -> None:
    """A search's plate text is salted by a nonce that the audit chain's digest covers."""
    add_columns(db, "access_log", (("nonce", "TEXT"),))


def to_v6(db: sqlite3.Connection) -> None:
    """Reads carry the state of issuance; a hit says when it differs from the entry's state."""
    add_columns(db, "reads", (("state", "TEXT"), ("state_confidence", "REAL")))
    add_columns(db, "hits", (("state_differs", "INTEGER NOT NULL DEFAULT 0"),))


def to_v7(db: sqlite3.Connection) -> None:
    """Hot-list entries are requested and approved (existing ones stay approved), carry
    descriptions and a scope; sources are approved as a whole; a hit's outcome is an append-only
    history; the alert outbox takes notices without a hit (stale lists)."""
    add_columns(db, "hotlist", schema_v7.HOTLIST_COLUMNS)
    for statement in schema_v7.STATEMENTS:
        db.execute(statement)
    hit_id = [r for r in db.execute("PRAGMA table_info(alerts)") if r[1] == "hit_id"]
    if hit_id and hit_id[0][3]:  # NOT NULL: rebuild the table, keeping every row
        db.execute("ALTER TABLE alerts RENAME TO alerts_old")
        db.execute(schema_v7.ALERTS)
        db.execute("INSERT INTO alerts SELECT * FROM alerts_old")
        db.execute("DROP TABLE alerts_old")
        db.execute("CREATE INDEX IF NOT EXISTS alerts_due ON alerts (delivered_at, next_at)")


# STEPS[n] upgrades a store at version n to n + 1. Append here; never edit a released step.
STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: to_v2,
    2: to_v3,
    3: to_v4,
    4: to_v5,
    5: to_v6,
    6: to_v7,
}
CURRENT = max(STEPS) + 1


def version(db: sqlite3.Connection) -> int:
    """The store's schema version: user_version, or 1 for a populated store from before it."""
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found:
        return found
    tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
    return 1 if tables else 0


def prepare(db: sqlite3.Connection, data_dir: Path, schema: str) -> None:
    """Create a new store, or back up and upgrade an older one, or refuse a newer one."""
    found = version(db)
    if found > CURRENT:
        raise StoreVersionError(
            f"the store {data_dir / 'gateway.db'} has schema version {found}, newer than this"
            f" release understands ({CURRENT}): install the release that wrote it, or restore a"
            " backup made by this one (alpr gateway restore FILE)"
        )
    if found == 0:
        # One script, one transaction: every statement is idempotent, so a second process that
        # raced to create the same store waits for the lock and changes nothing.
        try:
            db.executescript(f"BEGIN IMMEDIATE;{schema};PRAGMA user_version={CURRENT};COMMIT;")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return
    if found == CURRENT:
        return
    saved = backup(db, backup_name(data_dir, found))
    log.info(
        "store at schema version %d, this release needs %d; backup at %s", found, CURRENT, saved
    )
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            at = version(db)  # re-read under the write lock: another process may have moved it on
            if at >= CURRENT:
                db.execute("COMMIT")
                break
            STEPS[at](db)
            db.execute(f"PRAGMA user_version={at + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("store upgraded from schema version %d to %d: %s", at, at + 1, STEPS[at].__doc__)
