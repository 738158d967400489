"""Alert delivery: an outbox in the store, one row per (alert, target), sent with retries and backoff.

Hits are written to the outbox in the same transaction as the read, so an alert is never lost and
delivery never blocks ingest or reading. Each target has its own thread and its own backoff: a dead
broker or mail server waits alone while the other targets deliver, and a row once delivered to a
target is never sent to it again.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from typing import Any

from gateway.alert_message import VERIFY_REMINDER, build_payload
from gateway.channels import Channel, open_channel
from gateway.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_webhook,
    verify_webhook,
)
from gateway.config import AlertTarget
from gateway.store import Store

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "VERIFY_REMINDER",
    "AlertDispatcher",
    "TargetWorker",
    "backoff",
    "build_payload",
    "queue_alerts",
    "sign_webhook",
    "verify_webhook",
]

log = logging.getLogger("alpr.alerts")
MAX_BACKOFF_S = 300.0
POLL_S = 0.1
BATCH = 20
# a payload's "audience" -> the target audience that receives it; hits have none: officers
AUDIENCES = {"manager": "managers", "officer": "officers"}


def queue_alerts(
    db: sqlite3.Connection,
    hit_id: int | None,
    payload: dict[str, Any],
    targets: list[AlertTarget],
    now: float,
) -> None:
    """One outbox row per target whose audience the payload is for, in the caller's transaction
    (the one that records the hit); hit_id None for a notice (a stale hot list)."""
    body = json.dumps(payload)
    audience = AUDIENCES.get(str(payload.get("audience", "")), "officers")
    for i, target in enumerate(targets):
        if audience not in target.audience:
            continue
        db.execute(
            "INSERT INTO alerts (hit_id, target, payload, next_at) VALUES (?,?,?,?)",
            (hit_id, f"{i}:{target.kind}", body, now),
        )


def backoff(attempts: int, rng: random.Random, base_s: float = 1.0) -> float:
    """Exponential backoff with jitter (half to full of the step), capped."""
    return rng.uniform(0.5, 1.0) * min(MAX_BACKOFF_S, base_s * 2.0**attempts)


class TargetWorker(threading.Thread):
    """Delivers the outbox rows of one target, and (MQTT) the cameras' heartbeats as they arrive.

    A failed row is retried after its own backoff; the target as a whole also pauses after each
    failure, growing with consecutive failures, so a dead server is not hammered row by row.
    """

    def __init__(
        self,
        store: Store,
        index: int,
        target: AlertTarget,
        stop: threading.Event,
        timeout_s: float,
        base_s: float,
    ) -> None:
        super().__init__(name=f"alerts-{index}-{target.kind}", daemon=True)
        self.store, self.index, self.target, self.stop = store, index, target, stop
        self.key = f"alerts[{index}]"
        self.prefix = f"{index}:"
        self.base_s = base_s
        self.channel: Channel = open_channel(target, self.key, timeout_s)
        self.rng = random.Random()
        self.failures = 0  # in a row, for the target's pause
        self.paused_until = 0.0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                wait = self.paused_until - time.time()
                seen = self.store.new_alerts.generation()
                if wait > 0:
                    self.stop.wait(min(wait, 1.0))
                elif not self.step():  # woken by the reader's commit; POLL_S only as a fallback
                    self.store.new_alerts.wait(seen, POLL_S)
        finally:
            self.channel.close()

    def step(self) -> int:
        """Deliver what is due; returns how many deliveries were tried."""
        try:
            tried = self.deliver_due()
            if self.channel.wants_health and self.paused_until <= time.time():
                tried += self.publish_health()
            return tried
        except Exception:  # a store error: logged, and the thread lives on
            log.exception("%s: alert delivery failed", self.key)
            self.pause()
            return 0

    def pause(self) -> float:
        self.failures += 1
        wait = backoff(self.failures, self.rng, self.base_s)
        self.paused_until = time.time() + wait
        return wait

    def deliver_due(self) -> int:
        """Try this target's due rows, oldest first, until one fails."""
        db = self.store.connect()
        due = db.execute(
            "SELECT id, payload, attempts FROM alerts WHERE delivered_at IS NULL AND next_at <= ?"
            " AND substr(target, 1, ?) = ? ORDER BY next_at, id LIMIT ?",
            (time.time(), len(self.prefix), self.prefix, BATCH),
        ).fetchall()
        tried = 0
        for row in due:
            if self.stop.is_set():
                break
            tried += 1
            try:
                self.channel.send(json.loads(row["payload"]), row["payload"])
            except Exception as exc:  # every failure is retried later; none may stop the thread
                attempts = row["attempts"] + 1
                wait = backoff(attempts, self.rng, self.base_s)
                db.execute(
                    "UPDATE alerts SET attempts=?, next_at=?, last_error=? WHERE id=?",
                    (attempts, time.time() + wait, str(exc)[:500], row["id"]),
                )
                pause = self.pause()
                log.warning(
                    "alert %s to %s (%s) failed (attempt %d, retry in %.0f s, target paused %.1f s): %s",
                    row["id"],
                    self.key,
                    self.target.kind,
                    attempts,
                    wait,
                    pause,
                    exc,
                )
                break
            db.execute(
                "UPDATE alerts SET delivered_at=?, attempts=attempts+1, last_error=NULL WHERE id=?",
                (time.time(), row["id"]),
            )
            self.failures = 0
        return tried

    def publish_health(self) -> int:
        """Publish each camera's newest heartbeat since the last one published (kept in meta)."""
        db = self.store.connect()
        cursor_key = f"alerts.{self.index}.{self.target.kind}.heartbeat"
        row = db.execute("SELECT value FROM meta WHERE key=?", (cursor_key,)).fetchone()
        if row is None:  # first start: every camera's current state, once
            beats = db.execute(
                "SELECT id, camera, received, body FROM heartbeats WHERE id IN"
                " (SELECT max(id) FROM heartbeats GROUP BY camera) ORDER BY id"
            ).fetchall()
        else:
            beats = db.execute(
                "SELECT id, camera, received, body FROM heartbeats WHERE id > ? ORDER BY id LIMIT 200",
                (int(row["value"]),),
            ).fetchall()
        latest = {b["camera"]: b for b in beats}  # after an outage only the newest state matters
        for beat in sorted(latest.values(), key=lambda b: int(b["id"])):
            status = self.status(beat["camera"], beat["received"], beat["body"])
            try:
                self.channel.health(beat["camera"], status)
            except Exception as exc:
                pause = self.pause()
                log.warning(
                    "health of %s to %s failed (target paused %.1f s): %s",
                    beat["camera"],
                    self.key,
                    pause,
                    exc,
                )
                return 1
            self.set_cursor(cursor_key, int(beat["id"]))
            self.failures = 0
        if beats or row is None:  # past the older beats of each camera too
            self.set_cursor(cursor_key, max((int(b["id"]) for b in beats), default=0))
        return len(latest)

    def set_cursor(self, key: str, heartbeat_id: int) -> None:
        self.store.connect().execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(heartbeat_id))
        )

    @staticmethod
    def status(camera: str, received: float, body: str) -> dict[str, Any]:
        """The health message: what the camera reported, with its id and when it arrived."""
        try:
            reported = json.loads(body)
        except json.JSONDecodeError:
            reported = {}
        return {
            **(reported if isinstance(reported, dict) else {}),
            "camera": camera,
            "received": received,
        }


class AlertDispatcher(threading.Thread):
    """Starts one worker per configured target, and retries rows whose target is gone.

    Each worker has its own stop, so a reloaded config can stop the worker of a target that was
    changed or removed, and start one for a target that was added, while the others run on.
    """

    def __init__(
        self,
        store: Store,
        targets: list[AlertTarget],
        stop: threading.Event,
        timeout_s: float = 5.0,
        base_s: float = 1.0,
    ) -> None:
        super().__init__(name="alerts", daemon=True)
        self.store, self.targets, self.stop, self.timeout_s = store, targets, stop, timeout_s
        self.base_s = base_s
        self.rng = random.Random()
        self.lock = threading.Lock()
        self.running = False
        self.workers = [self.worker(i, t) for i, t in enumerate(targets)]

    def worker(self, index: int, target: AlertTarget) -> TargetWorker:
        return TargetWorker(
            self.store, index, target, threading.Event(), self.timeout_s, self.base_s
        )

    def run(self) -> None:
        with self.lock:
            self.running = True
            for worker in self.workers:
                worker.start()
        while not self.stop.is_set():
            try:
                self.hold_orphans()
            except Exception:
                log.exception("alert outbox check failed")
            self.stop.wait(1.0)
        with self.lock:
            workers, self.running = list(self.workers), False
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            if worker.is_alive():
                worker.join(timeout=self.timeout_s + 1)

    def reconfigure(self, targets: list[AlertTarget]) -> None:
        """Apply a reloaded `[[alerts]]` list. A target that is unchanged keeps its worker; one
        that changed or is new gets a fresh worker, started only after the worker it replaces has
        finished its delivery in flight, so a row is never sent twice. Rows of a removed target
        stay in the outbox (`hold_orphans`)."""
        with self.lock:
            kept: list[TargetWorker] = []
            for i, target in enumerate(targets):
                old = self.workers[i] if i < len(self.workers) else None
                kept.append(
                    old if old is not None and old.target == target else self.worker(i, target)
                )
            retired = [w for w in self.workers if w not in kept]
            fresh = [w for w in kept if w not in self.workers]
            running = self.running
            self.workers, self.targets = kept, list(targets)
        for worker in retired:
            worker.stop.set()
        for worker in retired:
            if worker.is_alive():
                worker.join(timeout=self.timeout_s + 1)
                if worker.is_alive():
                    log.warning("%s: its delivery in flight has not finished", worker.key)
        if running and not self.stop.is_set():
            for worker in fresh:
                worker.start()
        for worker in fresh:
            log.info("%s (%s): delivering", worker.key, worker.target.kind)
        for worker in retired:
            if worker.index >= len(targets):
                log.info(
                    "%s (%s): removed; its undelivered alerts are kept",
                    worker.key,
                    worker.target.kind,
                )

    def hold_orphans(self) -> int:
        """Rows for a target index no longer configured: kept (never lost), retried with backoff,
        and the reason written where `alpr gateway status` and the operator can see it."""
        db = self.store.connect()
        due = db.execute(
            "SELECT id, target, attempts FROM alerts WHERE delivered_at IS NULL AND next_at <= ?"
            " AND CAST(substr(target, 1, instr(target, ':') - 1) AS INTEGER) >= ? LIMIT 100",
            (time.time(), len(self.targets)),
        ).fetchall()
        for row in due:
            attempts = row["attempts"] + 1
            wait = backoff(attempts, self.rng, self.base_s)
            db.execute(
                "UPDATE alerts SET attempts=?, next_at=?, last_error=? WHERE id=?",
                (
                    attempts,
                    time.time() + wait,
                    f"alert target {row['target']} no longer configured",
                    row["id"],
                ),
            )
            log.warning("alert %s: target %s no longer configured", row["id"], row["target"])
        return len(due)

    def send(self, target: AlertTarget, payload: str, key: str = "alerts") -> None:
        """Deliver one alert now, outside the outbox (checks and tools); raises on failure."""
        channel = open_channel(target, key, self.timeout_s)
        try:
            channel.send(json.loads(payload), payload)
        finally:
            channel.close()
