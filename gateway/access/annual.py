"""The annual audit: a reproducible random sample of inquiries, a verdict on each, the data errors
found and corrected, and a printable report with the chain's integrity and a sign-off block."""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

import jinja2

from gateway.access import audit
from gateway.access.db import AccessDB

VERDICTS = ("proper", "improper", "follow-up")
INQUIRY_KINDS = ("inquiry",)


class AuditError(ValueError):
    """A request about the annual audit is wrong; the message names it."""


def draw(population: list[int], n: int, seed: str) -> list[int]:
    """The sampled record numbers: the same population and seed always give the same draw."""
    return sorted(random.Random(seed).sample(sorted(population), min(n, len(population))))


def sample(
    db: AccessDB,
    start: str,
    end: str,
    n: int,
    seed: str | None,
    by: str,
    source: str,
) -> int:
    """Draw n inquiries made in [start, end) and keep them, with the seed, as a new sample."""
    if n < 1:
        raise AuditError(f"--n must be at least 1, got {n}")
    if end <= start:
        raise AuditError(f"the period is empty: {start} .. {end}")
    seed = seed if seed is not None else str(secrets.randbelow(2**63))
    rows = {r["seq"]: r for r in audit.records(db, start, end, kinds=INQUIRY_KINDS)}
    picked = draw(list(rows), n, seed)
    conn = db.connect()
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            "INSERT INTO audit_samples (created, created_by, period_from, period_to, n, seed,"
            " population) VALUES (?,?,?,?,?,?,?)",
            (audit.iso(), by, start, end, n, seed, len(rows)),
        )
        sample_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO audit_sample_items (sample_id, audit_seq, record) VALUES (?,?,?)",
            [(sample_id, seq, json.dumps(rows[seq], sort_keys=True)) for seq in picked],
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    audit.append(
        db,
        by,
        "audit sample",
        kind="audit",
        what={"sample": sample_id, "from": start, "to": end, "n": n, "seed": seed},
        source=source,
        result_count=len(picked),
    )
    return sample_id


def items(db: AccessDB, sample_id: int) -> list[dict[str, Any]]:
    rows = db.connect().execute(
        "SELECT * FROM audit_sample_items WHERE sample_id=? ORDER BY audit_seq", (sample_id,)
    )
    return [{**dict(r), "record": json.loads(r["record"])} for r in rows]


def get_sample(db: AccessDB, sample_id: int | None = None) -> dict[str, Any]:
    """A sample by number, or the newest one."""
    sql = "SELECT * FROM audit_samples " + (
        "WHERE id=?" if sample_id is not None else "ORDER BY id DESC LIMIT 1"
    )
    row = db.connect().execute(sql, () if sample_id is None else (sample_id,)).fetchone()
    if row is None:
        raise AuditError(
            f"no sample {sample_id}" if sample_id is not None else "no sample drawn yet"
        )
    return dict(row)


def finding(db: AccessDB, item_id: int, verdict: str, note: str, by: str, source: str) -> None:
    if verdict not in VERDICTS:
        raise AuditError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    if not note.strip():
        raise AuditError("a finding needs a note")
    cur = db.connect().execute(
        "UPDATE audit_sample_items SET verdict=?, note=?, decided_by=?, decided_at=? WHERE id=?",
        (verdict, note.strip(), by, audit.iso(), item_id),
    )
    if not cur.rowcount:
        raise AuditError(f"no sample item {item_id}")
    audit.append(
        db,
        by,
        "audit finding",
        kind="audit",
        what={"item": item_id, "verdict": verdict},
        why=note.strip(),
        source=source,
    )


def data_error(
    db: AccessDB,
    ref: str,
    error: str,
    correction: str,
    by: str,
    source: str,
    sample_id: int | None = None,
) -> int:
    """Record a wrong datum (a misread, a stale hot-list entry...) and how it was put right,
    as part of one audit (the newest sample by default)."""
    sample_id = get_sample(db, sample_id)["id"]
    for name, value in (("--ref", ref), ("--error", error), ("--correction", correction)):
        if not value.strip():
            raise AuditError(f"{name} must not be empty")
    cur = db.connect().execute(
        "INSERT INTO audit_data_errors (sample_id, at, recorded_by, ref, error, correction)"
        " VALUES (?,?,?,?,?,?)",
        (sample_id, audit.iso(), by, ref.strip(), error.strip(), correction.strip()),
    )
    audit.append(
        db,
        by,
        "audit data-error",
        kind="audit",
        what={
            "sample": sample_id,
            "ref": ref.strip(),
            "error": error.strip(),
            "correction": correction.strip(),
        },
        source=source,
    )
    return int(cur.lastrowid or 0)


@dataclass
class RetentionCheck:
    """What `cloud verify-retention` and the purge log say about the audit period."""

    retention_days: int
    grace_days: float
    late: list[tuple[str, float]] | None = None  # None: the bucket could not be listed
    late_error: str | None = None
    purges: list[dict[str, Any]] | None = None  # purge_log rows made in the period
    purges_error: str | None = None

    @property
    def deleted(self) -> int:
        return sum(int(p["count"]) for p in self.purges or [])


@dataclass
class IntegrityCheck:
    """What `cloud check` and `audit verify` (against the bucket's locked heads) say."""

    target: str
    drift: list[str] | None = None  # None: the check could not run
    unsupported: list[str] = field(default_factory=list)
    drift_error: str | None = None
    heads_error: str | None = None


@dataclass
class ReportExtras:
    """Checks run against the storage target; each absent one is printed as 'not run'."""

    retention: RetentionCheck | None = None
    cloud: IntegrityCheck | None = None
    chain_heads: list[audit.Head] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _utc(t: float | None) -> str:
    return "-" if t is None else dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def render(
    db: AccessDB, agency: str, sample_id: int | None = None, extras: ReportExtras | None = None
) -> str:
    """The printable HTML report of one sample (the newest by default)."""
    s = get_sample(db, sample_id)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.access", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    errors = db.connect().execute(
        "SELECT * FROM audit_data_errors WHERE sample_id=? ORDER BY id", (s["id"],)
    )
    extras = extras or ReportExtras()
    check = audit.verify(db, extras.chain_heads)
    sampled = items(db, s["id"])
    return env.get_template("audit_report.html").render(
        agency=agency,
        sample=s,
        items=sampled,
        reviewed=sum(1 for i in sampled if i["verdict"]),
        errors=[dict(e) for e in errors],
        chain=check,
        head=audit.head(db),
        extras=extras,
        utc=_utc,
        generated=audit.iso()[:19] + " UTC",
        today=dt.datetime.now(dt.UTC).date().isoformat(),
    )
