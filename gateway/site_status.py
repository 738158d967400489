"""Captures from a camera whose site is not `installed` (planned or retired) are kept, flagged and
counted: a camera left up after its site was retired, or switched on before the site was approved,
is something the chief must know about.

The flags live in their own table of the read store (one row per flagged capture, with its read
when there is one), so `alpr gateway status`, exports and reports can show them.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from gateway.config import Camera, Config
from gateway.store import Store

log = logging.getLogger("alpr.pipeline")
FLAGGED = ("planned", "retired")
SCHEMA = """
CREATE TABLE IF NOT EXISTS capture_flags (
    event_id INTEGER PRIMARY KEY,
    read_id TEXT,                     -- NULL when no plate was read
    camera TEXT NOT NULL,
    site TEXT NOT NULL,
    site_status TEXT NOT NULL,        -- the site's status when the capture was read
    captured REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS capture_flags_read ON capture_flags (read_id);
"""


def ensure(store: Store) -> sqlite3.Connection:
    db = store.connect()
    db.executescript(SCHEMA)
    return db


def status_of(config: Config, camera: Camera) -> str:
    site = config.sites.get(camera.site)
    return site.status if site is not None else "unknown"


def flag(
    db: sqlite3.Connection, config: Config, camera: Camera, event: Any, read_id: str | None
) -> str | None:
    """Flag the capture when its site is planned or retired (inside the caller's transaction, if
    any); returns the status flagged, or None for an installed site."""
    status = status_of(config, camera)
    if status not in FLAGGED:
        return None
    db.execute(
        "INSERT OR REPLACE INTO capture_flags (event_id, read_id, camera, site, site_status,"
        " captured) VALUES (?,?,?,?,?,?)",
        (event["id"], read_id, camera.id, camera.site, status, event["captured"]),
    )
    log.warning(
        "camera %s: capture %s from site %s, whose status is %s: kept and flagged",
        camera.id,
        event["id"],
        camera.site,
        status,
    )
    return status


def read_status(store: Store, read_id: str) -> str | None:
    """The flagged site status of a read, or None when its site was installed."""
    row = (
        ensure(store)
        .execute("SELECT site_status FROM capture_flags WHERE read_id=?", (read_id,))
        .fetchone()
    )
    return str(row[0]) if row else None


def counts(store: Store) -> dict[str, int]:
    """Flagged captures by site status, for `alpr gateway status`."""
    rows = ensure(store).execute(
        "SELECT site_status, count(*) FROM capture_flags GROUP BY site_status"
    )
    found = {r[0]: int(r[1]) for r in rows}
    return {s: found.get(s, 0) for s in FLAGGED}
