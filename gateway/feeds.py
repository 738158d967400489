"""Hot-list feeds while the gateway runs: imports, scheduled refreshes, stale-list and overdue-hit
alerts.

A refresh re-imports a configured file and swaps it in atomically (`Store.replace_hotlist`), so
matching goes on against the old list until the new one commits. A source that has not been
imported successfully within its `max_age_hours` raises one stale-list alert (per last import)
through the alert outbox; a hit open longer than `[hits] open_alert_hours` raises one alert to
managers.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway import hit_events, hotlist, review
from gateway.alerts import queue_alerts
from gateway.config import Config, HotlistSource
from gateway.schedule import parse_schedule
from gateway.store import Store

log = logging.getLogger("alpr.feeds")
TICK_S = 30.0


def import_hotlist(
    store: Store,
    path: Path,
    source: str,
    fmt: hotlist.Format,
    max_bad_share: float = 0.05,
    categories: Mapping[str, str] | None = None,
) -> tuple[int, list[hotlist.LineError]]:
    """Import a file as the whole of `source`; bad lines are reported, good ones imported.

    A file that cannot be read (OSError), or that `hotlist.refusal` rejects (ImportRefused: bad
    header, no valid line, too many bad lines) leaves the source's previous list active. Each try
    is noted for `gateway status` (`review.note_attempt`).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        review.note_attempt(store, source, f"cannot read {path}: {exc.strerror}")
        raise
    errors: list[hotlist.LineError] = []

    def accept(good: int, previous: int) -> None:
        why = hotlist.refusal(str(path), good, errors, max_bad_share, previous)
        if why is not None:
            raise hotlist.ImportRefused(why, errors)

    entries = hotlist.iter_entries(text, source, fmt, errors, categories)
    try:
        count = store.replace_hotlist(source, entries, accept)
    except hotlist.ImportRefused as exc:
        review.note_attempt(store, source, str(exc))
        raise
    review.note_attempt(store, source, None)
    for e in errors:
        log.warning("hot list %s (%s) %s", source, path, e)
    log.info("hot list %s: %d entries imported, %d lines rejected", source, count, len(errors))
    return count, errors


def import_source(store: Store, config: Config, source: HotlistSource) -> bool:
    """Re-import one configured file; a refused or unreadable file is logged in one line naming it
    and why, and its source's previous list stays active."""
    try:
        fmt = config.hotlist_format(source.format)
        import_hotlist(
            store, source.path, source.source, fmt, source.max_bad_share, config.categories
        )
    except hotlist.ImportRefused as exc:
        log.error("hot list %s: %s", source.source, exc)
        return False
    except OSError as exc:
        log.error(
            "hot list %s: cannot read %s (%s); the previous list stays active",
            source.source,
            source.path,
            exc.strerror,
        )
        return False
    return True


def load_configured_hotlists(store: Store, config: Config) -> None:
    """Re-import every configured file (at each start)."""
    for source in config.hotlists:
        import_source(store, config, source)


def queue_alert(
    db: sqlite3.Connection, config: Config, payload: dict[str, Any], hit_id: int | None = None
) -> None:
    """Put one alert in the outbox for every configured target (within the caller's transaction)."""
    queue_alerts(db, hit_id, payload, config.alerts, time.time())


def check_stale(store: Store, config: Config, now: float | None = None) -> list[str]:
    """Raise a stale-list alert for each configured source past its max_age_hours, once per last
    import; returns the sources alerted now."""
    now = time.time() if now is None else now
    db = store.connect()
    raised = []
    for state in review.source_states(store, config.hotlists):
        if not state.stale(now):
            continue
        row = db.execute(
            "SELECT stale_alerted_at FROM hotlist_sources WHERE source=?", (state.source,)
        ).fetchone()
        marker = state.imported_at or 0.0
        if row is not None and row[0] is not None and row[0] >= marker:
            continue  # already alerted for this import
        age = state.age_hours(now)
        since = "never imported" if age is None else f"last imported {age:.1f} h ago"
        message = (
            f"hot list {state.source} is stale: {since} (allowed {state.max_age_hours:g} h);"
            f" reads are matched against an old list"
            + (f"; last error: {state.last_error}" if state.last_error else "")
        )
        payload = {
            "type": "stale-list",
            "audience": "manager",
            "message": message,
            "source": state.source,
            "age_hours": None if age is None else round(age, 1),
            "max_age_hours": state.max_age_hours,
            "last_error": state.last_error,
        }
        db.execute("BEGIN IMMEDIATE")
        try:
            queue_alert(db, config, payload)
            db.execute(
                "INSERT INTO hotlist_sources (source, stale_alerted_at) VALUES (?,?)"
                " ON CONFLICT(source) DO UPDATE SET stale_alerted_at=excluded.stale_alerted_at",
                (state.source, max(marker, 1.0)),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        store.new_alerts.notify()  # the delivery workers wait for this, not a poll
        log.error("%s", message)
        raised.append(state.source)
    return raised


def check_overdue(
    store: Store, config: Config, reminder: str, now: float | None = None
) -> list[int]:
    """Alert managers once for each hit open longer than open_hit_hours; returns the hits alerted.

    The alert is an event in the hit's history (`overdue-alert`), written with the outbox rows in
    one transaction: it is raised once, and never lost."""
    db = store.connect()
    raised = []
    for hit in hit_events.overdue(store, config.open_hit_hours, now):
        entry = json.loads(hit["entry"])
        hours = ((time.time() if now is None else now) - hit["created"]) / 3600
        payload = {
            "type": "hit-overdue",
            "audience": "manager",
            "message": (
                f"hit {hit['id']} has been open {hours:.1f} h (over {config.open_hit_hours:g} h):"
                " record its verification and disposition (alpr hits verify / disposition)"
            ),
            "reminder": reminder,
            "hit": hit["id"],
            "match_kind": hit["match_kind"],
            "matched_text": hit["matched_text"],
            "read": {
                "text": hit["plate"],
                "camera": hit["camera"],
                "site": hit["site"],
                "captured": hit["captured"],
            },
            "entry": entry,
        }
        db.execute("BEGIN IMMEDIATE")
        try:
            done = db.execute(
                "SELECT 1 FROM hit_events WHERE hit_id=? AND kind=?",
                (hit["id"], hit_events.OVERDUE),
            ).fetchone()
            if done is None:
                db.execute(
                    "INSERT INTO hit_events (hit_id, at, user, kind, status, note)"
                    " VALUES (?,?,?,?,?,?)",
                    (hit["id"], time.time(), "gateway", hit_events.OVERDUE, "raised", ""),
                )
                queue_alert(db, config, payload, hit["id"])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        store.new_alerts.notify()  # the delivery workers wait for this, not a poll
        if done is None:
            log.warning("%s", payload["message"])
            raised.append(int(hit["id"]))
    return raised


def refresh_due(store: Store, config: Config, now: float | None = None) -> list[str]:
    """Re-import each configured source whose refresh schedule is due; returns those tried."""
    now = time.time() if now is None else now
    db = store.connect()
    tried = []
    for source in config.hotlists:
        if source.refresh is None:
            continue
        row = db.execute(
            "SELECT last_attempt FROM hotlist_sources WHERE source=?", (source.source,)
        ).fetchone()
        last = row[0] if row is not None else None
        if parse_schedule(source.refresh).due(last, now):
            import_source(store, config, source)
            tried.append(source.source)
    return tried


class FeedWatcher(threading.Thread):
    """Every TICK_S: due refreshes, stale lists, overdue hits. A failure is logged, never fatal."""

    def __init__(self, store: Store, config: Config, reminder: str, stop: threading.Event) -> None:
        super().__init__(name="feeds", daemon=True)
        self.store, self.config, self.reminder, self.stop = store, config, reminder, stop

    def tick(self, now: float | None = None) -> None:
        for step in (
            lambda: refresh_due(self.store, self.config, now),
            lambda: check_stale(self.store, self.config, now),
            lambda: check_overdue(self.store, self.config, self.reminder, now),
        ):
            try:
                step()
            except Exception:  # the next tick tries again
                log.exception("hot-list feed check failed")

    def run(self) -> None:
        while not self.stop.wait(TICK_S):
            self.tick()
