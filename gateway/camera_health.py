"""Each camera's health from its heartbeats and events: what `alpr cameras status` prints and the
console's camera page shows, with the flags a technician acts on."""

from __future__ import annotations

import json
import time
from typing import Any

from gateway.config import Config
from gateway.store import Store

SILENT_AFTER_S = 3 * 3600  # cameras heartbeat hourly; three missed beats mean trouble
LOW_BATTERY_V = 3.4
READ_RATE_WINDOW = 50  # events compared for the read-rate check
READ_RATE_FLOOR = 0.5  # a camera reading under half its usual rate is flagged
DAY_S = 86400.0


def camera_health(config: Config, store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Each camera's last contact and health, with the flags a technician acts on."""
    now = now or time.time()
    db = store.connect()
    out = []
    for cam in config.cameras.values():
        beat_row = db.execute(
            "SELECT received, body FROM heartbeats WHERE camera=? ORDER BY received DESC LIMIT 1",
            (cam.id,),
        ).fetchone()
        last_event = db.execute(
            "SELECT max(received) FROM events WHERE camera=?", (cam.id,)
        ).fetchone()[0]
        beat = json.loads(beat_row["body"]) if beat_row else {}
        last = max(
            filter(None, [beat_row["received"] if beat_row else None, last_event]), default=None
        )
        statuses = [
            r[0]
            for r in db.execute(
                "SELECT status FROM events WHERE camera=? AND status IN ('read','noread') ORDER BY id DESC LIMIT ?",
                (cam.id, 2 * READ_RATE_WINDOW),
            )
        ]
        recent, earlier = statuses[: READ_RATE_WINDOW // 2], statuses[READ_RATE_WINDOW // 2 :]
        rate_recent = recent.count("read") / len(recent) if recent else None
        rate_before = earlier.count("read") / len(earlier) if earlier else None
        flags = []
        if last is None or now - last > SILENT_AFTER_S:
            flags.append("silent")
        battery = beat.get("battery_v")
        if battery is not None and battery < LOW_BATTERY_V:
            flags.append("low battery")
        if (
            len(earlier) >= 10
            and rate_before
            and rate_recent is not None
            and rate_recent < READ_RATE_FLOOR * rate_before
        ):
            flags.append("read rate collapsed")
        if beat.get("error"):
            flags.append("safe mode")
        out.append(
            {
                "camera": cam.id,
                "site": cam.site,
                "last_contact": last,
                "last_contact_age_s": None if last is None else round(now - last),
                "battery_v": battery,
                "solar_v": beat.get("solar_v"),
                "rssi": beat.get("rssi"),
                "firmware": beat.get("firmware"),
                "free_flash": beat.get("free_flash"),
                "queued": beat.get("queued"),
                "dropped": beat.get("dropped"),
                "error": beat.get("error"),
                "read_rate_recent": rate_recent,
                "read_rate_before": rate_before,
                "flags": flags,
            }
        )
    return out


def trend(
    store: Store, camera: str, now: float | None = None, days: int = 7
) -> list[dict[str, float]]:
    """Battery and solar voltages from the camera's heartbeats over the last `days`, oldest first."""
    now = now or time.time()
    rows = store.connect().execute(
        "SELECT received, body FROM heartbeats WHERE camera=? AND received >= ? ORDER BY received",
        (camera, now - days * DAY_S),
    )
    out = []
    for r in rows:
        try:
            beat = json.loads(r["body"])
        except ValueError:
            continue
        point = {"at": float(r["received"])}
        for key in ("battery_v", "solar_v"):
            value = beat.get(key)
            if isinstance(value, int | float):
                point[key] = float(value)
        out.append(point)
    return out
