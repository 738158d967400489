"""Retention of the gateway's own records: alert payloads, hits, heartbeats and the access log.

Reads and captures are purged by `Syncer.purge`; this module purges everything else that holds a
plate, a place or a time, each kind after its own `[retention]` period, and writes a purge_log line
for each pass (count, time range, SHA-256 of the ids) as proof of deletion. A hit without a
disposition is never purged: someone still has to act on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from gateway.config import Retention
from gateway.store import Store

log = logging.getLogger("alpr.retention")
DAY_S = 86400
PLATE_KEYS = ("plate", "text")  # query fields of the access log that hold plate text


def purge_record(
    store: Store, reason: str, rows: Sequence[Any], time_key: str = "captured"
) -> None:
    """One purge_log line: how many, which time range, and a hash of the ids as proof of deletion."""
    if not rows:
        return
    ids = sorted(r["id"] for r in rows)
    digest = hashlib.sha256("\n".join(str(i) for i in ids).encode()).hexdigest()
    times = [r[time_key] for r in rows]
    store.connect().execute(
        "INSERT INTO purge_log (at, reason, count, oldest, newest, ids_sha256) VALUES (?,?,?,?,?,?)",
        (time.time(), reason, len(ids), min(times), max(times), digest),
    )
    log.info("purged %d (%s), ids sha256 %s", len(ids), reason, digest[:16])


def blank_plates(query: str) -> str:
    """The access-log query with every plate field emptied; the rest (who, why, when) stays."""
    try:
        doc = json.loads(query)
    except ValueError:
        return json.dumps({"blanked": True})
    if isinstance(doc, dict):
        for key in PLATE_KEYS:
            if doc.get(key) is not None:
                doc[key] = None
    return json.dumps(doc)


def purge_records(store: Store, retention: Retention, now: float | None = None) -> int:
    """One pass over every kind; returns how many rows were deleted or blanked."""
    now = now or time.time()
    db = store.connect()
    done = 0

    def cut(days: int) -> float:
        return now - days * DAY_S

    def delete(table: str, reason: str, rows: list[Any], time_key: str) -> None:
        nonlocal done
        db.executemany(f"DELETE FROM {table} WHERE id=?", [(r["id"],) for r in rows])
        purge_record(store, reason, rows, time_key)
        done += len(rows)

    db.execute("BEGIN IMMEDIATE")
    try:
        alerts = db.execute(
            "SELECT alerts.id, hits.created FROM alerts JOIN hits ON hits.id = alerts.hit_id"
            " WHERE hits.created < ?",
            (cut(retention.alerts_days),),
        ).fetchall()
        delete("alerts", "alert payloads, past alerts_days", alerts, "created")

        hits = db.execute(
            "SELECT id, created FROM hits WHERE disposition IS NOT NULL AND created < ?",
            (cut(retention.hits_days),),
        ).fetchall()
        if hits:
            orphans = db.execute(
                "SELECT alerts.id, hits.created FROM alerts JOIN hits ON hits.id = alerts.hit_id"
                f" WHERE hits.id IN ({','.join('?' * len(hits))})",
                [h["id"] for h in hits],
            ).fetchall()
            delete("alerts", "alert payloads of purged hits", orphans, "created")
            delete("hits", "hits with a disposition, past hits_days", hits, "created")
            # their history goes with them (the trigger refuses it while the hit exists)
            db.executemany("DELETE FROM hit_events WHERE hit_id=?", [(h["id"],) for h in hits])
        notices = db.execute(
            "SELECT id, next_at FROM alerts WHERE hit_id IS NULL AND delivered_at IS NOT NULL"
            " AND next_at < ?",
            (cut(retention.alerts_days),),
        ).fetchall()
        delete("alerts", "notices (stale lists), past alerts_days", notices, "next_at")

        beats = db.execute(
            "SELECT id, received FROM heartbeats WHERE received < ?",
            (cut(retention.heartbeats_days),),
        ).fetchall()
        delete("heartbeats", "heartbeats, past heartbeats_days", beats, "received")

        old_log = db.execute(
            "SELECT id, at FROM access_log WHERE at < ?", (cut(retention.access_log_days),)
        ).fetchall()
        delete("access_log", "access-log rows, past access_log_days", old_log, "at")

        to_blank = db.execute(
            "SELECT id, at, query FROM access_log WHERE plates_blanked = 0 AND at < ?",
            (cut(retention.access_log_plates_days),),
        ).fetchall()
        if to_blank:
            db.executemany(
                "UPDATE access_log SET query=?, plates_blanked=1, nonce=NULL WHERE id=?",
                [(blank_plates(r["query"]), r["id"]) for r in to_blank],
            )
            purge_record(
                store, "access-log plates blanked, past access_log_plates_days", to_blank, "at"
            )
            done += len(to_blank)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return done
