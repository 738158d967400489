"""The gateway's daily export of the audit chain's head to the bucket, under Object Lock.

Once a UTC day (the first check of the day, so also at start when the last export is from an
earlier day) the head of the chain goes to `audit/heads/YYYY-MM-DD.json` on the storage target,
locked for the audit period. A chain rewritten later, or its newest records deleted, no longer
matches those heads (`alpr audit verify --heads-from-bucket`). Each export is itself a record,
naming the target, which is how the next check knows when the last one was.
"""

from __future__ import annotations

import datetime as dt
import logging

from cloud.storage import Target
from gateway.access import audit
from gateway.access.db import AccessDB

log = logging.getLogger("alpr.audit")
ACTION = "audit head export"
USER = "gateway"


class HeadExporter:
    """Writes the head to one target at most once a UTC day; `export_if_due` is cheap otherwise."""

    def __init__(
        self, db: AccessDB, target: Target, url: str, lock_days: int, source: str
    ) -> None:
        self.db, self.target, self.url = db, target, url
        self.lock_days, self.source = lock_days, source

    def last_export(self) -> str | None:
        """When a head was last exported to this target (ISO UTC), from the log itself."""
        row = (
            self.db.connect()
            .execute(
                "SELECT at FROM audit WHERE action=? AND json_extract(what, '$.target')=?"
                " ORDER BY seq DESC LIMIT 1",
                (ACTION, self.url),
            )
            .fetchone()
        )
        return str(row["at"]) if row else None

    def due(self, now: float) -> bool:
        last = self.last_export()
        today = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
        return last is None or last[:10] < today

    def export_if_due(self, now: float | None = None) -> str | None:
        """Write today's head unless it is written already; the key written, or None.

        A storage error propagates: nothing is recorded, so the next check tries again."""
        when = now if now is not None else dt.datetime.now(dt.UTC).timestamp()
        if not self.due(when):
            return None
        h = audit.head(self.db)
        if h is None:
            return None  # nobody has done anything yet: nothing to vouch for
        key = audit.write_head(self.target, h, self.lock_days, now=when)
        audit.append(
            self.db,
            USER,
            ACTION,
            kind="system",
            what={"seq": h.seq, "hash": h.hash, "key": key, "target": self.url},
            source=self.source,
        )
        log.info("audit head %d (%s...) written to %s/%s", h.seq, h.hash[:12], self.url, key)
        return key
