"""Reads placed in a store the way the reader pipeline leaves them, for sync and purge tests."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from gateway_helpers import jpeg

from cloud.durable import fsync_write
from gateway.store import Store, sha256


def make_read(
    store: Store,
    captured: float | None = None,
    text: str = "ABC123",
    seed: int = 0,
    camera: str = "cam-01",
    site: str = "s1",
) -> str:
    """One read with its event, best frame and crop on disk; returns the read id."""
    captured = captured or time.time()
    read_id = str(uuid.uuid4())
    frame, crop = jpeg(seed, 640, 360), jpeg(seed + 1000, 120, 60)
    day = time.strftime("%Y-%m-%d", time.gmtime(captured))
    frame_rel, crop_rel = f"reads/{day}/{read_id}.jpg", f"reads/{day}/{read_id}-plate.jpg"
    fsync_write(store.root / frame_rel, frame)
    fsync_write(store.root / crop_rel, crop)
    event_rel = f"spool/{camera}/{read_id}.evt"
    fsync_write(store.root / event_rel, b"event")
    db = store.connect()
    cur = db.execute(
        "INSERT INTO events (camera, sequence, captured, received, trigger, frames, body_sha256, path, status,"
        " response) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            camera,
            abs(hash(read_id)) % 2**40,
            captured,
            captured + 1,
            "radar",
            1,
            "x",
            event_rel,
            "read",
            "{}",
        ),
    )
    db.execute(
        "INSERT INTO reads (id, event_id, camera, site, lat, lon, heading, captured, received, text, confidence,"
        " alternates, box, frame_path, crop_path, frame_sha256, crop_sha256, bytes, read_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            read_id,
            cur.lastrowid,
            camera,
            site,
            40.0,
            -88.0,
            90.0,
            captured,
            captured + 1,
            text,
            0.9,
            json.dumps([["ABC12B", 0.05]]),
            json.dumps([10, 20, 100, 50]),
            frame_rel,
            crop_rel,
            sha256(frame),
            sha256(crop),
            len(frame) + len(crop),
            captured + 2,
        ),
    )
    return read_id


def local_files(store: Store, read_id: str) -> list[Path]:
    row = (
        store.connect()
        .execute("SELECT frame_path, crop_path FROM reads WHERE id=?", (read_id,))
        .fetchone()
    )
    return [store.root / row[0], store.root / row[1]] if row else []


def make_hit(
    store: Store,
    read_id: str,
    entry_id: int,
    created: float | None = None,
    disposition: str | None = None,
) -> int:
    """A hit on a read, as the reader pipeline records it (with its own copy of the read)."""
    db = store.connect()
    entry = dict(db.execute("SELECT * FROM hotlist WHERE id=?", (entry_id,)).fetchone())
    read = db.execute("SELECT * FROM reads WHERE id=?", (read_id,)).fetchone()
    cur = db.execute(
        "INSERT INTO hits (read_id, entry_id, entry, match_kind, matched_text, created, plate,"
        " captured, camera, site, disposition) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            read_id,
            entry_id,
            json.dumps(entry),
            "exact",
            read["text"],
            created or time.time(),
            read["text"],
            read["captured"],
            read["camera"],
            read["site"],
            disposition,
        ),
    )
    return int(cur.lastrowid or 0)
