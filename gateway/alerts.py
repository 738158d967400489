"""Alert delivery: an outbox in the store, sent by one thread with retries and backoff.

Hits are written to the outbox in the same transaction as the read, so an alert is never lost and
delivery never blocks ingest or reading.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from gateway.config import AlertTarget, resolve_secret
from gateway.hotlist import ALERT_FIELDS
from gateway.store import Store

log = logging.getLogger("alpr.alerts")
VERIFY_REMINDER = (
    "An ALPR alert alone is not grounds for a stop or any enforcement action. Visually confirm that "
    "the plate characters and the state match, and confirm the current status through NCIC or the "
    "state system first."
)
MAX_BACKOFF_S = 300.0
TIMESTAMP_HEADER = "X-ALPR-Timestamp"
SIGNATURE_HEADER = "X-ALPR-Signature"


def sign_webhook(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-ALPR-Signature value: `sha256=` and the HMAC-SHA256 of `"<timestamp>." + body`."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_webhook(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    max_age_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature over timestamp and body, and a recent timestamp."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > max_age_s:
        return False  # an old request replayed
    return hmac.compare_digest(sign_webhook(secret, int(timestamp), body), signature)


def build_payload(
    hit_id: int,
    kind: str,
    matched_text: str,
    read: dict[str, Any],
    entry: dict[str, Any],
    reminder: str = VERIFY_REMINDER,
) -> dict[str, Any]:
    """What an officer receives: the reminder first (config `[hits] reminder`), then the read, the
    entry's instructions and its vehicle and subject descriptions."""
    return {
        "reminder": reminder,
        "hit": hit_id,
        "match_kind": kind,
        "matched_text": matched_text,
        "read": read,
        "entry": {k: entry.get(k) for k in ("id", "source", *ALERT_FIELDS)},
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
            if not self.deliver_due():
                self.stop.wait(0.1)

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
                self.send(target, row["payload"], f"alerts[{index}]")
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

    def send(self, target: AlertTarget, payload: str, key: str = "alerts") -> None:
        """Deliver one alert; a webhook request is signed (X-ALPR-Timestamp, X-ALPR-Signature)."""
        if target.kind == "log":
            p = json.loads(payload)
            if p.get("type", "hit") != "hit":  # a notice: stale list, overdue hit
                log.warning("ALERT %s: %s", p["type"], p["message"])
                return
            e = p["entry"]
            vehicle = " ".join(
                filter(None, (e.get(k) for k in ("vehicle_colour", "vehicle_make", "vehicle_type")))
            )
            log.warning(
                "ALERT hit %s: %s %s %s(%s match of %s) case %s at camera %s. %s",
                p["hit"],
                e["category"],
                e["plate"],
                f"[{vehicle}] " if vehicle else "",
                p["match_kind"],
                p["matched_text"],
                p["entry"]["case_number"],
                p["read"]["camera"],
                p["reminder"],
            )
            return
        if target.secret_ref is None:
            raise RuntimeError(f"{key}: a webhook without a secret is never sent unsigned")
        secret = resolve_secret(target.secret_ref, f"{key}.secret")  # read now: it may be rotated
        body = payload.encode()
        timestamp = int(time.time())
        request = urllib.request.Request(
            target.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign_webhook(secret, timestamp, body),
            },
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered {response.status}")
