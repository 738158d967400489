"""Special details (nontraditional deployments): a purpose, an approver, a start and an end, and
the sites or the temporary camera used. Each is approved before it counts as a deployment, and its
results (reads, hits, hits by outcome) are kept with it once it has ended, so they outlive the
reads themselves.

The records are in the access database beside the audit log; each step is audited with it.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from gateway.access import audit
from gateway.access.db import AccessDB, schema_transaction
from gateway.config import Config
from gateway.results import Results, results
from gateway.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL,
    purpose TEXT NOT NULL,
    start REAL NOT NULL,              -- Unix seconds; the detail covers start <= t < end
    end REAL NOT NULL,
    sites TEXT NOT NULL,              -- JSON list of site ids
    cameras TEXT NOT NULL,            -- JSON list of (temporary) camera ids
    status TEXT NOT NULL,             -- requested, approved, denied
    decided_by TEXT,
    decided_at TEXT,
    decision_note TEXT,
    results TEXT,                     -- JSON, kept once the detail has ended
    results_at TEXT
);
"""
STEP_KIND = "change"


class DeploymentError(ValueError):
    """A deployment step that is refused; the message says why."""


@dataclass(frozen=True)
class Detail:
    purpose: str
    start: float
    end: float
    sites: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()

    def check(self, config: Config) -> Detail:
        if not self.purpose.strip():
            raise DeploymentError("--purpose must not be empty")
        if self.end <= self.start:
            raise DeploymentError("--end must be after --start")
        if not self.sites and not self.cameras:
            raise DeploymentError("name the sites (--site) or the temporary camera (--camera)")
        for s in self.sites:
            if s not in config.sites:
                raise DeploymentError(f"--site: unknown site {s!r} (add it to [[sites]] first)")
        for c in self.cameras:
            if c not in config.cameras:
                raise DeploymentError(
                    f"--camera: unknown camera {c!r} (a temporary camera is in [[cameras]] too,"
                    " so that its captures are signed)"
                )
        return self


def ensure(db: AccessDB) -> sqlite3.Connection:
    conn = db.connect()
    conn.executescript(SCHEMA)
    return conn


def transaction(db: AccessDB) -> AbstractContextManager[sqlite3.Connection]:
    return schema_transaction(db, SCHEMA)


def add(db: AccessDB, detail: Detail, config: Config, by: str, source: str) -> int:
    detail.check(config)
    with transaction(db) as conn:
        cur = conn.execute(
            "INSERT INTO deployments (created, created_by, purpose, start, end, sites, cameras,"
            " status) VALUES (?,?,?,?,?,?,?,'requested')",
            (
                audit.iso(), by, detail.purpose.strip(), detail.start, detail.end,
                json.dumps(list(detail.sites)), json.dumps(list(detail.cameras)),
            ),
        )  # fmt: skip
        dep_id = int(cur.lastrowid or 0)
        what = {"deployment": dep_id, "start": audit.iso(detail.start), "end": audit.iso(detail.end),
                "sites": list(detail.sites), "cameras": list(detail.cameras)}  # fmt: skip
        audit.append_in(
            conn, by, "deployment add", kind=STEP_KIND, what=what, why=detail.purpose.strip(),
            source=source,
        )  # fmt: skip
    return dep_id


def get(db: AccessDB, dep_id: int) -> dict[str, Any]:
    row = ensure(db).execute("SELECT * FROM deployments WHERE id=?", (dep_id,)).fetchone()
    if row is None:
        raise DeploymentError(f"no deployment {dep_id}")
    return decode(row)


def decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["sites"], out["cameras"] = json.loads(out["sites"]), json.loads(out["cameras"])
    out["results"] = json.loads(out["results"]) if out["results"] else None
    return out


def listing(db: AccessDB) -> list[dict[str, Any]]:
    return [decode(r) for r in ensure(db).execute("SELECT * FROM deployments ORDER BY start, id")]


def decide(db: AccessDB, dep_id: int, approve: bool, by: str, note: str, source: str) -> None:
    """Approve or deny a requested detail; a denial needs a reason."""
    if not approve and not note.strip():
        raise DeploymentError("a denial needs --reason")
    status = "approved" if approve else "denied"
    with transaction(db) as conn:
        row = conn.execute("SELECT status FROM deployments WHERE id=?", (dep_id,)).fetchone()
        if row is None:
            raise DeploymentError(f"no deployment {dep_id}")
        if row["status"] != "requested":
            raise DeploymentError(f"deployment {dep_id} is {row['status']} already")
        conn.execute(
            "UPDATE deployments SET status=?, decided_by=?, decided_at=?, decision_note=?"
            " WHERE id=?",
            (status, by, audit.iso(), note.strip(), dep_id),
        )
        audit.append_in(
            conn, by, f"deployment {'approve' if approve else 'deny'}", kind=STEP_KIND,
            what={"deployment": dep_id}, why=note.strip(), source=source,
        )  # fmt: skip


def measure(store: Store, dep: dict[str, Any]) -> Results:
    return results(store, dep["start"], dep["end"], dep["sites"], dep["cameras"])


def report(db: AccessDB, store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Every approved detail with its results: measured now while it runs, kept once it has ended
    (the first report after its end keeps them; later ones show what was kept)."""
    now = time.time() if now is None else now
    out = []
    for dep in listing(db):
        if dep["status"] != "approved":
            continue
        if dep["results"] is None:
            measured = dataclasses.asdict(measure(store, dep))
            if dep["end"] <= now:
                ensure(db).execute(
                    "UPDATE deployments SET results=?, results_at=? WHERE id=? AND results IS NULL",
                    (json.dumps(measured), audit.iso(now), dep["id"]),
                )
                dep["results_at"] = audit.iso(now)
            dep["results"] = measured
        dep["state"] = (
            "ended" if dep["end"] <= now else "running" if dep["start"] <= now else "future"
        )
        out.append(dep)
    return out
