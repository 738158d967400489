"""Alert delivery: an outbox in the store, sent by one thread with retries and backoff.

Hits are written to the outbox in the same transaction as the read, so an alert is never lost and
delivery never blocks ingest or reading.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from gateway.config import AlertTarget
from gateway.hotlist import ENTRY_FIELDS
from gateway.store import Store

log = logging.getLogger("alpr.alerts")
VERIFY_REMINDER = (
    "An ALPR alert alone is not grounds for a stop or any enforcement action. Visually confirm that "
    "the plate characters and the state match, and confirm the current status through NCIC or the "
    "state system first."
)
MAX_BACKOFF_S = 300.0
IDLE_LOOK_S = 1.0  # with nothing due, look again at most this late (alerts from another process)


def build_payload(
    hit_id: int, kind: str, matched_text: str, read: dict[str, Any], entry: dict[str, Any]
) -> dict[str, Any]:
    """What an officer receives: the reminder first, then the read and the entry's instructions."""
    return {
        "reminder": VERIFY_REMINDER,
        "hit": hit_id,
        "match_kind": kind,
        "matched_text": matched_text,
        "read": read,
        "entry": {k: entry[k] for k in ("id", "source", *ENTRY_FIELDS)},
    }


def backoff(attempts: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter, capped."""
    return rng.uniform(0.5, 1.0) * min(MAX_BACKOFF_S, 2.0**attempts)


class AlertDispatcher(threading.Thread):
    def __init__(
        self,
        store: Store,
        targets: list[AlertTarget],
        stop: threading.Event,
        timeout_s: float = 5.0,
    ) -> None:
        super().__init__(name="alerts", daemon=True)
        self.store, self.targets, self.stop, self.timeout_s = store, targets, stop, timeout_s
        self.rng = random.Random()

    def run(self) -> None:
        while not self.stop.is_set():
            seen = self.store.new_alerts.generation()
            if not self.deliver_due():  # woken by the reader's commit, or when a retry falls due
                self.store.new_alerts.wait(seen, self.idle_wait())

    def idle_wait(self) -> float:
        row = (
            self.store.connect()
            .execute("SELECT min(next_at) FROM alerts WHERE delivered_at IS NULL")
            .fetchone()
        )
        if row[0] is None:
            return IDLE_LOOK_S
        return min(IDLE_LOOK_S, max(0.01, float(row[0]) - time.time()))

    def deliver_due(self) -> int:
        """Try every alert that is due; returns how many were tried."""
        db = self.store.connect()
        due = db.execute(
            "SELECT id, target, payload, attempts FROM alerts WHERE delivered_at IS NULL AND next_at <= ?"
            " ORDER BY next_at LIMIT 50",
            (time.time(),),
        ).fetchall()
        for row in due:
            index = int(row["target"].split(":", 1)[0])
            target = self.targets[index] if index < len(self.targets) else None
            try:
                if target is None:
                    raise RuntimeError(f"alert target {row['target']} no longer configured")
                self.send(target, row["payload"])
            except Exception as exc:  # every failure is retried later; none may stop the thread
                attempts = row["attempts"] + 1
                wait = backoff(attempts, self.rng)
                db.execute(
                    "UPDATE alerts SET attempts=?, next_at=?, last_error=? WHERE id=?",
                    (attempts, time.time() + wait, str(exc)[:500], row["id"]),
                )
                log.warning(
                    "alert %s to %s failed (attempt %d, retry in %.0f s): %s",
                    row["id"],
                    row["target"],
                    attempts,
                    wait,
                    exc,
                )
            else:
                db.execute(
                    "UPDATE alerts SET delivered_at=?, attempts=attempts+1 WHERE id=?",
                    (time.time(), row["id"]),
                )
        return len(due)

    def send(self, target: AlertTarget, payload: str) -> None:
        if target.kind == "log":
            p = json.loads(payload)
            log.warning(
                "ALERT hit %s: %s %s (%s match of %s) case %s at camera %s. %s",
                p["hit"],
                p["entry"]["category"],
                p["entry"]["plate"],
                p["match_kind"],
                p["matched_text"],
                p["entry"]["case_number"],
                p["read"]["camera"],
                p["reminder"],
            )
            return
        request = urllib.request.Request(
            target.url,
            data=payload.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered {response.status}")
