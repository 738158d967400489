"""The ground the store stands on: free disk space under the data folder, and SQLite's own check of
the database file.

Disk: below `[gateway] min_free_mb` free, ingest refuses events with `507 Insufficient Storage`
before it writes anything. The camera keeps a refused event on its flash and sends it again later,
so nothing is lost; the reserve left is what lets SQLite still commit (the disk-full alert in the
outbox, heartbeats, the reader's results) and what keeps a half-written event file from filling
the last byte. Should the disk fill all the same (another program, a reserve set too small), a
write that fails with ENOSPC or SQLITE_FULL is answered 507 too, and the service keeps running.

Integrity: at start `PRAGMA quick_check` (it reads every page but does not compare indexes with
their tables, so it stays quick on a large store), and every `[gateway] integrity_check_hours`
the full `PRAGMA integrity_check`. A damaged store stops ingest (503: the cameras keep their
events) and raises an alert whose text says how to restore the latest backup.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from gateway.alerts import queue_alerts
from gateway.backup import BACKUP_DIR
from gateway.config import Config
from gateway.store import Store

log = logging.getLogger("alpr.gateway")
MB = 1024 * 1024
WATCH_S = 2.0  # how often the watcher looks at the free space
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
SQLITE_FULL = 13


class StoreDamaged(RuntimeError):
    """The store failed SQLite's integrity check; the message says how to restore it."""


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer can still use on the file system that holds path."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def is_corrupt(exc: BaseException) -> bool:
    """SQLite found a damaged page while using the store (SQLITE_CORRUPT, SQLITE_NOTADB)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and (code in (11, 26) or "malformed" in str(exc))


def is_disk_full(exc: BaseException) -> bool:
    """A write that failed because the file system (or SQLite's file) has no room left."""
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or "disk is full" in str(exc)
    return False


def integrity_problems(db_path: Path, full: bool) -> list[str]:
    """What `PRAGMA integrity_check` (full) or `quick_check` finds wrong; [] for a sound file.

    A fresh read-only connection each time: it reads the pages from the file, not from the cache
    of a connection that has been open since before the damage."""
    try:
        db = sqlite3.connect(f"file:{db_path.resolve()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return [f"cannot open it: {exc}"]
    try:
        pragma = "integrity_check" if full else "quick_check"
        rows = [str(r[0]) for r in db.execute(f"PRAGMA {pragma}")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        db.close()
    return [] if rows == ["ok"] else rows


def latest_backup(data_dir: Path) -> Path | None:
    """The newest backup `alpr gateway backup` or an upgrade left in `<data_dir>/backups`."""
    found = [p for p in (Path(data_dir) / BACKUP_DIR).glob("*.db") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def damage_message(config: Config, problems: list[str], pragma: str) -> str:
    """Why the store cannot be used, and the command that restores it."""
    db_path = Path(config.data_dir) / "gateway.db"
    backup = latest_backup(config.data_dir)
    where = f"--config {config.path} " if config.path else ""
    source = str(backup) if backup else "BACKUP_FILE (the newest file `alpr gateway backup` wrote)"
    return (
        f"the store {db_path} is damaged: {pragma} found {'; '.join(problems[:3])}."
        f" Stop the gateway and restore the latest backup: alpr gateway restore {where}{source}"
        " (event files are not in a backup: keep the data folder's spool/)"
    )


def check_at_start(config: Config) -> None:
    """Refuse to start on a damaged store (quick_check); a store not made yet is fine."""
    db_path = Path(config.data_dir) / "gateway.db"
    if not db_path.exists():
        return
    started = time.monotonic()
    problems = integrity_problems(db_path, full=False)
    log.info("store quick_check: %s in %.2f s", "ok" if not problems else "FAILED",
             time.monotonic() - started)  # fmt: skip
    if problems:
        raise StoreDamaged(damage_message(config, problems, "PRAGMA quick_check"))


class StoreHealth:
    """What ingest asks before it writes: None, or why it must refuse (507 disk, 503 damage).

    Each change of state is logged and raised once as an alert through the outbox (the reserve
    under `min_free_mb` is what lets that commit go through)."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store, self.config = store, config
        self.lock = threading.Lock()
        self.low = False  # free space under the reserve
        self.seen_at = 0.0  # monotonic time of the latest observation applied (see set_low)
        self.pending: list[dict[str, Any]] = []  # notices not queued yet (the disk was full)
        self.damaged: str | None = None

    def refusal(self) -> tuple[int, str] | None:
        """(status, reason) to refuse an event with, or None to go ahead."""
        if self.damaged:
            return 503, f"gateway store damaged, ingest stopped: {self.damaged}"
        seen = time.monotonic()
        free = free_bytes(self.store.root)
        reserve = int(self.config.min_free_mb * MB)
        if self.low:  # back only with room for one more event above the reserve: no flapping
            reserve += self.config.max_body_bytes
        self.set_low(free < reserve, free, seen)
        if free < reserve:
            return 507, (
                f"gateway disk full: {free // MB} MB free under its data folder, below the"
                f" {self.config.min_free_mb:g} MB reserve; keep the event and send it later"
            )
        return None

    def disk_full(self, exc: BaseException, tried_at: float) -> str:
        """A write begun at `tried_at` (monotonic) failed for want of room: note it (and alert);
        the reason to answer 507 with."""
        self.set_low(True, free_bytes(self.store.root), tried_at)
        return f"gateway disk full ({exc}); keep the event and send it later"

    def set_low(self, low: bool, free: int, seen: float) -> None:
        """Apply an observation made at `seen`. One older than the last applied is dropped: a
        request that read a full disk just before space came back must not flip the state back
        after a newer reading found room (that would raise a second disk-full alert)."""
        with self.lock:
            if seen < self.seen_at:
                return
            self.seen_at = seen
            changed = low != self.low
            self.low = low
            if changed:
                where = self.store.root
                if low:
                    message = (
                        f"gateway disk full: {free // MB} MB free under {where} (reserve"
                        f" {self.config.min_free_mb:g} MB); cameras are refused (507) and keep their"
                        " captures until space is freed"
                    )
                    log.error("%s", message)
                    kind = "disk-full"
                else:
                    message = f"gateway disk space back: {free // MB} MB free under {where}"
                    log.warning("%s; ingest accepts captures again", message)
                    kind = "disk-ok"
                self.pending.append({"type": kind, "audience": "manager", "message": message,
                                     "free_bytes": free})  # fmt: skip
        if changed or (self.pending and not low):
            self.send_pending()

    def mark_damaged(self, problems: list[str], found_by: str) -> None:
        """The scheduled check (or a write) found damage: stop ingest, log and alert."""
        message = damage_message(self.config, problems, found_by)
        with self.lock:
            first = self.damaged is None
            self.damaged = message
        if first:
            log.critical("%s", message)
            with self.lock:
                self.pending.append({"type": "store-damaged", "audience": "manager",
                                     "message": message})  # fmt: skip
            self.send_pending()

    def send_pending(self) -> None:
        """Queue the pending notices, in order, to every alert target; what cannot be written yet
        (a full disk) stays pending for the next try."""
        with self.lock:
            due, self.pending = self.pending, []
        db = self.store.connect()
        for i, payload in enumerate(due):
            try:
                db.execute("BEGIN IMMEDIATE")
                queue_alerts(db, None, payload, self.config.alerts, time.time())
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                log.error("could not queue the %s alert (%s); trying again", payload["type"], exc)
                with self.lock:
                    self.pending[:0] = due[i:]
                return
        if due:
            self.store.new_alerts.notify()


class StoreWatch(threading.Thread):
    """Looks at the free space every WATCH_S (so the alert goes out, and the recovery is seen,
    without camera traffic) and runs the full integrity check every `integrity_check_hours`."""

    def __init__(self, health: StoreHealth, stop: threading.Event) -> None:
        super().__init__(name="store-watch", daemon=True)
        self.health, self.stop = health, stop
        self.last_check = time.monotonic()  # the start's quick_check counts as the first

    def tick(self) -> None:
        health = self.health
        health.refusal()
        if health.pending:
            health.send_pending()
        hours = health.config.integrity_check_hours
        if hours > 0 and time.monotonic() - self.last_check >= hours * 3600:
            self.last_check = time.monotonic()
            started = time.monotonic()
            problems = integrity_problems(health.store.db_path, full=True)
            log.info("store integrity_check: %s in %.2f s", "ok" if not problems else "FAILED",
                     time.monotonic() - started)  # fmt: skip
            if problems:
                health.mark_damaged(problems, "PRAGMA integrity_check")

    def run(self) -> None:
        while not self.stop.wait(WATCH_S):
            try:
                self.tick()
            except Exception:  # the next tick tries again
                log.exception("store watch failed")
