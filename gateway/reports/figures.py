"""The counts the public and the board see, each from the record that holds it: the config (sites,
cameras, retention, use policy), the read store (reads, hits and their outcomes), the audit log
(searches), the dissemination log (shares) and the annual-audit records."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass

from gateway.access import audit, settings
from gateway.access.db import AccessDB
from gateway.config import SITE_STATUSES, Config
from gateway.sharing import requests
from gateway.store import Store

NOT_STATED = "not stated"
NOT_RECORDED = "not recorded"
SEARCH_KINDS = ("inquiry", "search")


@dataclass(frozen=True)
class Period:
    start: float
    end: float

    @property
    def iso(self) -> tuple[str, str]:
        return audit.iso(self.start), audit.iso(self.end)

    @property
    def label(self) -> str:
        return f"{audit.iso(self.start)[:10]} to {audit.iso(self.end)[:10]}"


def cameras_by_status(config: Config) -> dict[str, int]:
    """Cameras counted by their site's status (planned, installed, retired)."""
    found: Counter[str] = Counter(
        config.sites[c.site].status for c in config.cameras.values() if c.site in config.sites
    )
    return {s: found.get(s, 0) for s in SITE_STATUSES}


def sites_by_status(config: Config) -> dict[str, int]:
    found: Counter[str] = Counter(s.status for s in config.site_list)
    return {s: found.get(s, 0) for s in SITE_STATUSES}


def is_search(record: dict[str, object]) -> bool:
    return record["kind"] == "search" or str(record["action"]).startswith("search")


def searches_by_purpose(db: AccessDB, period: Period) -> dict[str, int]:
    """Searches of the reads in the audit log, by their stated purpose, most first."""
    start, end = period.iso
    found: Counter[str] = Counter()
    for r in audit.records(db, start, end, kinds=SEARCH_KINDS):
        if is_search(r):
            purpose = json.loads(r["what"]).get("purpose")
            found[str(purpose).strip() if purpose else NOT_STATED] += 1
    return dict(found.most_common())


def shares_by_agency(db: AccessDB, period: Period) -> dict[str, dict[str, int]]:
    """Releases and reads released per agency, from the dissemination log."""
    start, end = period.iso
    out: dict[str, dict[str, int]] = {}
    for r in requests.dissemination_log(db):
        if start <= r["at"] < end:
            row = out.setdefault(r["agency"], {"releases": 0, "reads": 0})
            row["releases"] += 1
            row["reads"] += int(r["reads"])
    return dict(sorted(out.items()))


def retention(config: Config, db: AccessDB) -> list[tuple[str, str]]:
    """What is kept how long, in words, from the config and the access settings."""
    days = config.retention
    s = settings.load(db)
    return [
        ("Plate reads (images and text)", f"{config.retention_days} days, then deleted"),
        ("Copies on the gateway after upload", f"{config.storage.local_retention_days} days"),
        ("Alerts", f"{days.alerts_days} days"),
        ("Hits with a disposition", f"{days.hits_days} days (open hits until closed)"),
        ("Camera health reports", f"{days.heartbeats_days} days"),
        ("Plate text in the access log", f"{days.access_log_plates_days} days"),
        ("Access log", f"{days.access_log_days} days"),
        ("Audit log", f"{s.audit_retention_days} days"),
        ("Evidence held for a case", "until the case releases it (legal hold)"),
    ]


def last_audit(db: AccessDB) -> str | None:
    """The date of the newest annual-audit sample, or None when none was drawn."""
    row = db.connect().execute("SELECT max(created) FROM audit_samples").fetchone()
    return str(row[0])[:10] if row and row[0] else None


def audit_findings(db: AccessDB, period: Period) -> list[dict[str, object]]:
    """Each annual audit drawn in the period: items, reviewed, verdicts, data errors."""
    start, end = period.iso
    conn = db.connect()
    out: list[dict[str, object]] = []
    for s in conn.execute(
        "SELECT * FROM audit_samples WHERE created >= ? AND created < ? ORDER BY id", (start, end)
    ):
        verdicts = Counter(
            r[0] or "not reviewed"
            for r in conn.execute(
                "SELECT verdict FROM audit_sample_items WHERE sample_id=?", (s["id"],)
            )
        )
        errors = conn.execute(
            "SELECT count(*) FROM audit_data_errors WHERE sample_id=?", (s["id"],)
        ).fetchone()[0]
        out.append(
            {
                "id": s["id"], "created": s["created"][:10], "by": s["created_by"],
                "period": f"{s['period_from'][:10]} to {s['period_to'][:10]}",
                "population": s["population"], "sampled": sum(verdicts.values()),
                "proper": verdicts["proper"], "improper": verdicts["improper"],
                "follow_up": verdicts["follow-up"], "not_reviewed": verdicts["not reviewed"],
                "data_errors": int(errors),
            }
        )  # fmt: skip
    return out


def recorded_outcomes(store: Store, period: Period) -> dict[str, int | str]:
    """Arrests and recoveries related to ALPR hits, where the store records them (a column of
    that name on hits, or an `outcome` column naming them); otherwise 'not recorded'."""
    db = store.connect()
    columns = {r[1] for r in db.execute("PRAGMA table_info(hits)")}
    out: dict[str, int | str] = {}
    for name, words in (("arrests", ("arrest",)), ("recoveries", ("recovery", "recovered"))):
        column = next((w for w in words if w in columns), None)
        sql = None
        if column is not None:
            sql = f"SELECT count(*) FROM hits WHERE {column} AND captured >= ? AND captured < ?"
        elif "outcome" in columns:
            sql = (
                f"SELECT count(*) FROM hits WHERE outcome LIKE '%{words[0][:6]}%'"
                " AND captured >= ? AND captured < ?"
            )
        out[name] = _count(db, sql, period) if sql else NOT_RECORDED
    return out


def _count(db: sqlite3.Connection, sql: str, period: Period) -> int:
    return int(db.execute(sql, (period.start, period.end)).fetchone()[0])
