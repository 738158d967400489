"""Reader workers: take stored events, keep the best read of each, match it, record hits and alerts.

They run apart from ingest and work from the store, so a slow reader only grows the backlog
(`alpr gateway status`) and a crash only delays reading: unfinished events stay pending.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from cloud.durable import fsync_write
from gateway import protocol, site_status
from gateway.alert_message import VERIFY_REMINDER, build_payload
from gateway.alerts import queue_alerts
from gateway.config import Camera, Config
from gateway.hotlist import ALERT_FIELDS, Matcher, Scope
from gateway.reader.images import ImageError, decode
from gateway.reader.reader import PlateRead, PlateReader, ReaderConfig, expand
from gateway.store import Store, sha256

log = logging.getLogger("alpr.pipeline")
READ_NAMESPACE = uuid.UUID("6f1d3c2e-55a4-4bb4-9a53-0c2f3d1e9b7a")
IDLE_LOOK_S = 1.0  # with nothing pending, look again this often (events queued by another process)


@dataclass(frozen=True)
class BestRead:
    plate: PlateRead
    frame: bytes
    crop: bytes


def best_read(reader: PlateReader, camera: Camera, frames: list[bytes]) -> BestRead | None:
    """The most confident plate over an event's frames, with its frame and a crop of the plate."""
    best: tuple[PlateRead, bytes, np.ndarray] | None = None
    for data in frames:
        try:
            image = decode(data)
        except ImageError as exc:
            log.warning("camera %s: skipping a frame: %s", camera.id, exc)
            continue
        plates = reader.read(image, camera.hints)
        if plates and (best is None or plates[0].confidence > best[0].confidence):
            best = (plates[0], data, image)
    if best is None:
        return None
    plate, data, image = best
    x, y, w, h = expand(plate.box, image.shape, 0.1, 0.2)
    crop = cv2.imencode(".jpg", image[y : y + h, x : x + w], [cv2.IMWRITE_JPEG_QUALITY, 92])[
        1
    ].tobytes()
    return BestRead(plate, data, crop)


class MatcherCache:
    """The approved hot-list entries in memory, rebuilt when an import, an add or an approval
    changes them; requested and rejected entries are never loaded, so they never alert."""

    def __init__(self, store: Store, max_substitutions: int) -> None:
        self.store, self.max_substitutions = store, max_substitutions
        self.version = ""
        self.matcher = Matcher([], max_substitutions)
        self.lock = threading.Lock()

    def get(self) -> Matcher:
        version = self.store.get_meta("hotlist_version", "0")
        with self.lock:
            if version != self.version:
                db = self.store.connect()
                live = "FROM hotlist WHERE cancelled_at IS NULL AND status='approved'"
                rows = db.execute(f"SELECT id, plate, expires, state {live}")
                scoped = db.execute(
                    f"SELECT id, sites, lat, lon, radius_m {live}"
                    " AND (coalesce(sites, '') != '' OR radius_m IS NOT NULL)"
                )
                scopes = {r[0]: Scope.of(r[1], r[2], r[3], r[4]) for r in scoped}
                self.matcher = Matcher(
                    rows, self.max_substitutions, {k: v for k, v in scopes.items() if v}
                )
                self.version = version
                log.info("hot lists loaded: %d entries (version %s)", len(self.matcher), version)
            return self.matcher

    def reconfigure(self, max_substitutions: int) -> None:
        """A reloaded `[matching] max_substitutions`: the matcher is rebuilt at its next use."""
        with self.lock:
            if max_substitutions != self.max_substitutions:
                self.max_substitutions, self.version = max_substitutions, ""


class ReaderWorker(threading.Thread):
    """One reader thread; each has its own TFLite interpreters."""

    def __init__(
        self,
        config: Config,
        store: Store,
        matchers: MatcherCache,
        claimed: set[int],
        claim_lock: threading.Lock,
        stop: threading.Event,
        reader_config: ReaderConfig,
    ) -> None:
        super().__init__(name="reader", daemon=True)
        self.config, self.store, self.matchers = config, store, matchers
        self.claimed, self.claim_lock, self.stop = claimed, claim_lock, stop
        self.reader = PlateReader(reader_config)
        # (event id, seconds) of the latest events read, for `alpr bench pipeline`
        self.durations: deque[tuple[int, float]] = deque(maxlen=10_000)
        site_status.ensure(store)

    def run(self) -> None:
        while not self.stop.is_set():
            seen = self.store.new_events.generation()
            with self.claim_lock:
                rows = self.store.claim_pending(1, self.claimed)
                if rows:
                    self.claimed.add(rows[0]["id"])
            if not rows:  # woken by the ingest's commit, not by polling
                self.store.new_events.wait(seen, IDLE_LOOK_S)
                continue
            try:
                started = time.perf_counter()
                self.process(rows[0])
                self.durations.append((rows[0]["id"], time.perf_counter() - started))
            except Exception:
                log.exception("event %s: reading failed", rows[0]["id"])
                self.store.connect().execute(
                    "UPDATE events SET status='failed', error='reader error' WHERE id=?",
                    (rows[0]["id"],),
                )
            finally:
                with self.claim_lock:
                    self.claimed.discard(rows[0]["id"])

    def process(self, event: Any) -> None:
        config = self.config  # one config for the whole event, even across a reload
        camera = config.cameras.get(event["camera"])
        db = self.store.connect()
        if camera is None:  # removed from the config since the event was stored
            db.execute(
                "UPDATE events SET status='failed', error='camera no longer configured' WHERE id=?",
                (event["id"],),
            )
            return
        parsed = protocol.decode_event(self.store.event_body(event["path"]))
        found = best_read(self.reader, camera, parsed.frames)
        if found is None:
            site_status.flag(db, config, camera, event, None)
            db.execute("UPDATE events SET status='noread' WHERE id=?", (event["id"],))
            return
        self.record(event, camera, found, config)

    def record(
        self, event: Any, camera: Camera, found: BestRead, config: Config | None = None
    ) -> None:
        config = config or self.config
        read_id = str(
            uuid.uuid5(
                READ_NAMESPACE, f"{event['camera']}/{event['sequence']}/{event['body_sha256']}"
            )
        )
        day = time.strftime("%Y-%m-%d", time.gmtime(event["captured"]))
        frame_rel = f"reads/{day}/{read_id}.jpg"
        crop_rel = f"reads/{day}/{read_id}-plate.jpg"
        fsync_write(self.store.root / frame_rel, found.frame)
        fsync_write(self.store.root / crop_rel, found.crop)
        plate = found.plate
        matches = self.matchers.get().match(
            plate.text,
            [t for t, _ in plate.alternates],
            state=plate.state,
            site=camera.site,
            lat=camera.lat,
            lon=camera.lon,
        )
        now = time.time()
        read = {
            "id": read_id,
            "camera": camera.id,
            "site": camera.site,
            "lat": camera.lat,
            "lon": camera.lon,
            "heading": camera.heading,
            "captured": event["captured"],
            "received": event["received"],
            "text": plate.text,
            "confidence": plate.confidence,
            "alternates": plate.alternates,
            "box": list(plate.box),
            "state": plate.state,
            "state_confidence": plate.state_confidence,
        }
        db = self.store.connect()
        alerted = hit = False
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR IGNORE INTO reads (id, event_id, camera, site, lat, lon, heading, captured, received,"
                " text, confidence, alternates, box, frame_path, crop_path, frame_sha256, crop_sha256, bytes,"
                " read_at, state, state_confidence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    read_id,
                    event["id"],
                    camera.id,
                    camera.site,
                    camera.lat,
                    camera.lon,
                    camera.heading,
                    event["captured"],
                    event["received"],
                    plate.text,
                    plate.confidence,
                    json.dumps(plate.alternates),
                    json.dumps(list(plate.box)),
                    frame_rel,
                    crop_rel,
                    sha256(found.frame),
                    sha256(found.crop),
                    len(found.frame) + len(found.crop),
                    now,
                    plate.state,
                    plate.state_confidence,
                ),
            )
            for m in matches:
                entry = db.execute(
                    "SELECT * FROM hotlist WHERE id=? AND cancelled_at IS NULL"
                    " AND status='approved'",
                    (m.entry_id,),
                ).fetchone()
                if entry is None:  # replaced or cancelled since the matcher was built
                    continue
                entry_json = {k: entry[k] for k in ("id", "source", *ALERT_FIELDS, "added")}
                # the hit keeps its own copy of the read: it stays (open) after the read is purged
                cur = db.execute(
                    "INSERT OR IGNORE INTO hits (read_id, entry_id, entry, match_kind, matched_text,"
                    " created, plate, captured, camera, site, state_differs)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        read_id,
                        m.entry_id,
                        json.dumps(entry_json),
                        m.kind,
                        m.matched_text,
                        now,
                        plate.text,
                        event["captured"],
                        camera.id,
                        camera.site,
                        int(m.state_differs),
                    ),
                )
                if not cur.rowcount:
                    continue
                hit_id = int(cur.lastrowid or 0)
                hit = True
                payload = build_payload(
                    hit_id,
                    m.kind,
                    m.matched_text,
                    read,
                    entry_json,
                    config.console_url,
                    m.state_differs,
                    config.alert_reminder or VERIFY_REMINDER,
                )
                queue_alerts(db, hit_id, payload, config.alerts, now)
                alerted = alerted or bool(config.alerts)
                log.warning(
                    "HIT %s plate=%s kind=%s entry=%s camera=%s%s",
                    hit_id,
                    plate.text,
                    m.kind,
                    m.entry_id,
                    camera.id,
                    f" (state differs: read {plate.state})" if m.state_differs else "",
                )
            site_status.flag(db, config, camera, event, read_id)
            db.execute("UPDATE events SET status='read' WHERE id=?", (event["id"],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if alerted:
            self.store.new_alerts.notify()
        if hit:
            self.store.new_hits.notify()
