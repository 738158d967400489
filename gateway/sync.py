"""Sync: every read to the storage target, then local purge with a proof of deletion.

Keys: `reads/dt=YYYY-MM-DD/site=S/camera=C/<read-id>.jpg` (best frame) and `<read-id>.json`
(metadata with the plate crop inline as base64, written last: two requests a read, not three),
plus `reads/dt=YYYY-MM-DD/index/hour=HH/<hash>.ndjson` batches for search (metadata only). Keys are fixed by the read id, an object that is already there with the same
MD5 is not sent again, and S3 writes whole objects only, so a crash mid-upload leaves neither
duplicates nor partial objects. The queue is the `reads` table itself, on disk.

Retention counts from capture, not upload: each object carries its capture time (metadata
`captured`) and an `alpr-life=N` tag, its remaining life in days, which the bucket's lifecycle
rules (`alpr cloud init`) expire it by. A read already past retention is never uploaded: it is
purged locally, with a proof of deletion.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cloud import index as search_index
from cloud.bucket import LIFE_TAG, life_days
from cloud.storage import FileTarget, StorageError, Target, read_key_prefix
from gateway.access.heads import HeadExporter
from gateway.config import Config
from gateway.retention import purge_record, purge_records
from gateway.store import Store, sha256

log = logging.getLogger("alpr.sync")
BATCH = 200
QUEUE_ALERT_LEVELS = (0.5, 0.8, 1.0)


def read_prefix(read: Any) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime(read["captured"]))
    return read_key_prefix(day, read["site"], read["camera"], read["id"])


def read_metadata(read: Any, agency: str) -> dict[str, Any]:
    return {
        "id": read["id"],
        "agency": agency,
        "camera": read["camera"],
        "site": read["site"],
        "lat": read["lat"],
        "lon": read["lon"],
        "heading": read["heading"],
        "captured": read["captured"],
        "received": read["received"],
        "text": read["text"],
        "confidence": read["confidence"],
        "alternates": json.loads(read["alternates"]),
        "box": json.loads(read["box"]),
        "frame_sha256": read["frame_sha256"],
        "crop_sha256": read["crop_sha256"],
    }


@dataclass
class SyncStats:
    synced: int = 0
    skipped_existing: int = 0
    quarantined: int = 0
    failures: int = 0
    expired: int = 0  # past retention before they could be sent: purged locally, not uploaded


class Syncer:
    """One pass at a time: upload what is queued, bound the queue, purge what retention demands."""

    def __init__(self, config: Config, store: Store, target: Target, uploads: int = 16) -> None:
        self.config, self.store, self.target = config, store, target
        self.alerted_level = 0.0
        self.pool = ThreadPoolExecutor(uploads, thread_name_prefix="upload")

    def sync_once(self, limit: int = BATCH) -> SyncStats:
        """Upload up to `limit` queued reads, several at a time; mark the ones that fully landed.

        Reads already past retention are purged first, never sent.
        """
        stats = SyncStats()
        stats.expired = self.purge_expired()
        db = self.store.connect()
        rows = db.execute(
            "SELECT * FROM reads WHERE synced_at IS NULL AND quarantined IS NULL ORDER BY captured LIMIT ?",
            (limit,),
        ).fetchall()
        if not rows:
            return stats
        # Recorded before the first byte goes out: a read tried before may be partly uploaded already,
        # so only those are checked object by object (HEAD) before sending.
        db.executemany("UPDATE reads SET sync_tried=1 WHERE id=?", [(r["id"],) for r in rows])
        done = []
        for read, outcome in zip(rows, self.pool.map(self._upload_one, rows), strict=True):
            if isinstance(outcome, StorageError):
                stats.failures += 1
                log.warning("sync of read %s failed: %s", read["id"], outcome)
            elif outcome is None:
                stats.quarantined += 1
            else:
                stats.skipped_existing += outcome
                done.append(read)
        if done:
            try:
                self.upload_index(done)
                search_index.on_synced(self.target, done, self.config.retention_days)
            except StorageError as exc:  # the reads themselves landed; their batch goes next pass
                stats.failures += 1
                log.warning("index batch upload failed: %s", exc)
                return stats
            now = time.time()
            db.executemany(
                "UPDATE reads SET synced_at=? WHERE id=?", [(now, r["id"]) for r in done]
            )
            stats.synced += len(done)
        return stats

    def _upload_one(self, read: Any) -> int | StorageError | None:
        try:
            return self.upload(read)
        except StorageError as exc:
            return exc

    def upload(self, read: Any, now: float | None = None) -> int | None:
        """Upload one read's objects: how many were already there, or None if quarantined."""
        life = life_days(self.config.retention_days, read["captured"], now or time.time())
        if life is None:  # the caller's query keeps these out; checked here as the last word
            raise StorageError(f"read {read['id']} is past retention and may not be uploaded")
        root = self.store.root
        frame_path, crop_path = root / read["frame_path"], root / read["crop_path"]
        try:
            frame, crop = frame_path.read_bytes(), crop_path.read_bytes()
        except OSError as exc:
            self.quarantine(read, f"local file missing: {exc.filename}")
            return None
        if sha256(frame) != read["frame_sha256"] or sha256(crop) != read["crop_sha256"]:
            self.quarantine(read, "local file failed its stored SHA-256")
            return None
        prefix = read_prefix(read)
        doc = {
            **read_metadata(read, self.config.agency),
            "plate_jpeg": base64.b64encode(crop).decode(),
        }
        meta = json.dumps(doc, sort_keys=True).encode()
        skipped = 0
        for key, data in ((f"{prefix}.jpg", frame), (f"{prefix}.json", meta)):
            if read["sync_tried"]:
                existing = self.target.head(key)
                # the stored sha256: with SSE-C, AWS's ETag is not the content's MD5
                if existing is not None and (
                    existing.metadata.get("sha256") == sha256(data)
                    or existing.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
                ):
                    skipped += 1
                    continue
            self.target.put(
                key,
                data,
                {"read-id": read["id"], "sha256": sha256(data), "captured": repr(read["captured"])},
                {LIFE_TAG: str(life)},
            )
        return skipped

    def upload_index(self, reads: list[Any]) -> None:
        """NDJSON batches per capture hour; the key is a hash of the ids, so a retry rewrites the same one."""
        by_hour: dict[tuple[str, str], list[Any]] = {}
        for r in reads:
            t = time.gmtime(r["captured"])
            by_hour.setdefault((time.strftime("%Y-%m-%d", t), time.strftime("%H", t)), []).append(r)
        for (day, hour), group in by_hour.items():
            ids = hashlib.sha256("".join(sorted(r["id"] for r in group)).encode()).hexdigest()[:16]
            lines = [
                json.dumps({**read_metadata(r, self.config.agency), "key": read_prefix(r)})
                for r in group
            ]
            key = f"reads/dt={day}/index/hour={hour}/{ids}.ndjson"
            oldest = min(r["captured"] for r in group)
            life = life_days(self.config.retention_days, oldest, time.time())
            if life is not None and self.target.head(key) is None:
                self.target.put(
                    key,
                    ("\n".join(lines) + "\n").encode(),
                    {"captured": repr(oldest)},
                    {LIFE_TAG: str(life)},
                )

    def quarantine(self, read: Any, why: str) -> None:
        """Move a damaged local copy aside, never to be uploaded as good."""
        qdir = self.store.root / "quarantine" / read["id"]
        qdir.mkdir(parents=True, exist_ok=True)
        for rel in (read["frame_path"], read["crop_path"]):
            src = self.store.root / rel
            if src.exists():
                shutil.move(str(src), str(qdir / src.name))
        self.store.connect().execute("UPDATE reads SET quarantined=? WHERE id=?", (why, read["id"]))
        log.error("read %s quarantined: %s (moved to %s)", read["id"], why, qdir)

    def queue_bytes(self) -> int:
        row = (
            self.store.connect()
            .execute(
                "SELECT coalesce(sum(bytes), 0) FROM reads WHERE synced_at IS NULL AND quarantined IS NULL"
            )
            .fetchone()
        )
        return int(row[0])

    def bound_queue(self) -> None:
        """Alert as the queue fills; over its limit, drop the best frames of the oldest unsynced reads
        (their plate crop and metadata stay queued)."""
        limit = self.config.storage.queue_limit_mb * 2**20
        used = self.queue_bytes()
        level = max((lvl for lvl in QUEUE_ALERT_LEVELS if used >= lvl * limit), default=0.0)
        if level > self.alerted_level:
            log.error(
                "sync queue at %.0f %% of its %d MB limit (%d MB unsynced): is storage reachable?",
                100 * used / limit,
                self.config.storage.queue_limit_mb,
                used // 2**20,
            )
        self.alerted_level = level
        if used <= limit:
            return
        db = self.store.connect()
        for read in db.execute(
            "SELECT id, frame_path, crop_path, bytes FROM reads WHERE synced_at IS NULL AND quarantined IS NULL"
            " AND frame_path != crop_path ORDER BY captured"
        ).fetchall():
            if used <= limit:
                break
            frame = self.store.root / read["frame_path"]
            size = frame.stat().st_size if frame.exists() else 0
            frame.unlink(missing_ok=True)
            crop = self.store.root / read["crop_path"]
            db.execute(
                "UPDATE reads SET frame_path=crop_path, frame_sha256=crop_sha256, bytes=? WHERE id=?",
                (crop.stat().st_size if crop.exists() else 0, read["id"]),
            )
            used -= size
            log.error(
                "sync queue full: dropped the best frame of unsynced read %s (crop kept)",
                read["id"],
            )

    def purge_reads(self, reason: str, where: str, cut: float) -> int:
        """Delete the local reads matching `where` (one `?`: cut), their files and events; log proof."""
        db = self.store.connect()
        rows = db.execute(
            f"SELECT id, captured, frame_path, crop_path, event_id FROM reads WHERE {where}",
            (cut,),
        ).fetchall()
        if not rows:
            return 0
        for r in rows:
            for rel in (r["frame_path"], r["crop_path"]):
                (self.store.root / rel).unlink(missing_ok=True)
            shutil.rmtree(self.store.root / "quarantine" / r["id"], ignore_errors=True)
        db.executemany("DELETE FROM reads WHERE id=?", [(r["id"],) for r in rows])
        self.delete_events([r["event_id"] for r in rows])
        purge_record(self.store, reason, rows)
        return len(rows)

    def purge_expired(self, now: float | None = None) -> int:
        """Every local read past the agency's retention, synced or not: it may not be sent any more."""
        cut = (now or time.time()) - self.config.retention_days * 86400
        return self.purge_reads("past agency retention", "captured < ?", cut)

    def purge(self, now: float | None = None) -> int:
        """Delete local copies: synced ones past local retention, and every one past agency retention;
        then alert payloads, hits, heartbeats and access-log plates past their own retention."""
        now = now or time.time()
        db = self.store.connect()
        local_cut = now - self.config.storage.local_retention_days * 86400
        purged = self.purge_reads(
            "synced, past local retention", "synced_at IS NOT NULL AND captured < ?", local_cut
        )
        purged += self.purge_expired(now)
        if isinstance(
            self.target, FileTarget
        ):  # a folder has no lifecycle engine: apply the rule here
            self.target.sweep("reads/", self.config.retention_days, now)
        # raw captures in which no plate was read hold no read to sync: purge them at local retention
        events = db.execute(
            "SELECT id, captured FROM events WHERE status IN ('noread', 'failed') AND captured < ?",
            (local_cut,),
        ).fetchall()
        if events:
            self.delete_events([e["id"] for e in events])
            purge_record(self.store, "captures without a read, past local retention", events)
            purged += len(events)
        return purged + purge_records(self.store, self.config.retention, now)

    def delete_events(self, ids: list[int]) -> None:
        db = self.store.connect()
        for event_id in ids:
            row = db.execute("SELECT path FROM events WHERE id=?", (event_id,)).fetchone()
            if row is not None:
                (self.store.root / row["path"]).unlink(missing_ok=True)
        db.executemany("DELETE FROM events WHERE id=?", [(i,) for i in ids])


class SyncWorker(threading.Thread):
    """Runs the Syncer forever, backing off with jitter while the target is unreachable; with the
    local purge (every `purge_every_s`, and at start) it checks whether today's audit head is due."""

    def __init__(
        self,
        syncer: Syncer,
        stop: threading.Event,
        idle_s: float = 1.0,
        purge_every_s: float = 300.0,
        heads: HeadExporter | None = None,
    ) -> None:
        super().__init__(name="sync", daemon=True)
        self.syncer, self.stop, self.idle_s, self.purge_every_s = (
            syncer,
            stop,
            idle_s,
            purge_every_s,
        )
        self.heads = heads
        self.rng = random.Random()

    def export_head(self) -> None:
        """Today's audit head, if due; a failure is logged and retried at the next check."""
        if self.heads is None:
            return
        try:
            self.heads.export_if_due()
        except StorageError as exc:
            log.warning("audit head not written (retried in %.0f s): %s", self.purge_every_s, exc)
        except Exception:  # the sync thread must survive anything
            log.exception("audit head export failed")

    def run(self) -> None:
        failures = 0
        next_purge = 0.0
        while not self.stop.is_set():
            try:
                stats = self.syncer.sync_once()
                self.syncer.bound_queue()
                if time.monotonic() >= next_purge:
                    self.export_head()
                    self.syncer.purge()
                    next_purge = time.monotonic() + self.purge_every_s
            except Exception:  # the thread must survive anything; the next pass retries
                log.exception("sync pass failed")
                stats = SyncStats(failures=1)
            failures = failures + 1 if stats.failures else 0
            if failures:
                self.stop.wait(self.rng.uniform(0.5, 1.0) * min(300.0, 2.0**failures))
            elif not stats.synced:
                self.stop.wait(self.idle_s)
