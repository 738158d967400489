"""Schema version 7: hot-list approval and sources, and the append-only history of each hit.

Kept apart from `gateway.store.SCHEMA` so that a new store (SCHEMA) and the upgrade of an older one
(`gateway.migrations.to_v7`) run the very same statements.
"""

from __future__ import annotations

# hit_events is append-only: a row is never changed, and removed only after its hit is purged;
# hits.disposition is the latest disposition event, set only through the history.
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS hotlist_sources (
    source TEXT PRIMARY KEY,      -- an imported list, approved once as a whole by a manager
    approved_by TEXT,
    approved_at REAL,
    approval_note TEXT,
    imported_at REAL,             -- the last import that replaced the list
    entries INTEGER,
    last_attempt REAL,            -- the last import tried (scheduled refreshes), even refused
    last_error TEXT,
    stale_alerted_at REAL         -- the import time a stale-list alert was raised for
)""",
    """CREATE TABLE IF NOT EXISTS hit_events (
    id INTEGER PRIMARY KEY,
    hit_id INTEGER NOT NULL,      -- no foreign key: retention removes the hit first, then these
    at REAL NOT NULL,
    user TEXT NOT NULL,
    kind TEXT NOT NULL,           -- verification, disposition, outcome, overdue-alert
    status TEXT NOT NULL,         -- the result, disposition or outcome summary
    system TEXT,                  -- verification: NCIC or the state system checked
    checked_at REAL,              -- verification: when the check was made
    note TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'  -- JSON: the outcome's fields
)""",
    """CREATE INDEX IF NOT EXISTS hit_events_hit ON hit_events (hit_id, id)""",
    """CREATE TRIGGER IF NOT EXISTS hit_events_no_update BEFORE UPDATE ON hit_events BEGIN
    SELECT RAISE(ABORT, 'hit_events is append-only: record a new event instead');
END""",
    """CREATE TRIGGER IF NOT EXISTS hit_events_no_delete BEFORE DELETE ON hit_events
WHEN EXISTS (SELECT 1 FROM hits WHERE id = OLD.hit_id) BEGIN
    SELECT RAISE(ABORT, 'hit_events is append-only: history goes only with its purged hit');
END""",
    """CREATE TRIGGER IF NOT EXISTS hit_events_verified_first BEFORE INSERT ON hit_events
WHEN NEW.kind = 'disposition' AND NOT EXISTS (
    SELECT 1 FROM hit_events WHERE hit_id = NEW.hit_id AND kind = 'verification'
) BEGIN
    SELECT RAISE(ABORT, 'a hit is closed only after a verification record');
END""",
    """CREATE TRIGGER IF NOT EXISTS hit_events_current AFTER INSERT ON hit_events
WHEN NEW.kind = 'disposition' BEGIN
    UPDATE hits SET disposition = NEW.status, disposition_note = NEW.note,
        disposition_user = NEW.user, disposition_at = NEW.at WHERE id = NEW.hit_id;
END""",
    """CREATE TRIGGER IF NOT EXISTS hits_disposition_from_history
BEFORE UPDATE OF disposition, disposition_note, disposition_user, disposition_at ON hits
WHEN NOT EXISTS (
    SELECT 1 FROM hit_events WHERE id = (
        SELECT max(id) FROM hit_events WHERE hit_id = NEW.id AND kind = 'disposition'
    ) AND status IS NEW.disposition AND note IS NEW.disposition_note
      AND user IS NEW.disposition_user AND at IS NEW.disposition_at
) BEGIN
    SELECT RAISE(ABORT, 'a disposition is recorded in hit_events, never rewritten in hits');
END""",
)
HOTLIST_COLUMNS = (
    ("status", "TEXT NOT NULL DEFAULT 'approved'"),  # entries from before approval were managers'
    ("entered_by", "TEXT"),
    ("approved_by", "TEXT"),
    ("approved_at", "REAL"),
    ("request_ref", "TEXT"),
    ("reject_reason", "TEXT"),
    ("vehicle_colour", "TEXT"),
    ("vehicle_make", "TEXT"),
    ("vehicle_type", "TEXT"),
    ("subject", "TEXT"),
    ("notes", "TEXT"),
    ("sites", "TEXT"),
    ("lat", "REAL"),
    ("lon", "REAL"),
    ("radius_m", "REAL"),
)
ALERTS = """CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    hit_id INTEGER REFERENCES hits (id),
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
)"""
