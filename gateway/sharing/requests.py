"""Share requests and their decisions: data leaves the agency only on a written request (agency,
requester, purpose, case) that someone approved, and every release is in the secondary
dissemination log.

The records live in the access database beside the audit log (they are compliance records, kept
when the read store is rebuilt); each step and its audit record are one transaction.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from gateway.access import audit
from gateway.access.db import AccessDB, schema_transaction
from gateway.access.roles import Principal
from gateway.config import SharingAgency

SCHEMA = """
CREATE TABLE IF NOT EXISTS shares (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL,
    agency TEXT NOT NULL,
    requester TEXT NOT NULL,
    contact TEXT NOT NULL,
    purpose TEXT NOT NULL,
    case_number TEXT NOT NULL,
    query TEXT NOT NULL,              -- JSON: plates, since, until, sites
    status TEXT NOT NULL,             -- requested, approved, denied, fulfilled
    decided_by TEXT,
    decided_at TEXT,
    decided_roles TEXT,               -- the approver's roles when deciding
    verified_by TEXT,                 -- how the requester's identity was verified
    decision_note TEXT,               -- the approval note, or the reason for a denial
    mou_signed TEXT,                  -- the agency's MOU date when approved; NULL: none on file
    fulfilled_by TEXT,
    fulfilled_at TEXT,
    out_dir TEXT
);
CREATE TABLE IF NOT EXISTS dissemination_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    share_id INTEGER NOT NULL REFERENCES shares (id),
    agency TEXT NOT NULL,
    requester TEXT NOT NULL,
    contact TEXT NOT NULL,
    purpose TEXT NOT NULL,
    case_number TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    released_by TEXT NOT NULL,
    mou TEXT NOT NULL,                -- the MOU date, or who approved a release without one
    reads INTEGER NOT NULL,
    files INTEGER NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    query TEXT NOT NULL
);
"""

STATUSES = ("requested", "approved", "denied", "fulfilled")
CHIEF_ROLE = "admin"  # a release to an agency without an MOU needs the chief
STEP_KIND = "change"  # requests, approvals, denials; the release itself is an inquiry (a case)
LOG_COLUMNS = (
    "id",
    "at",
    "share_id",
    "agency",
    "requester",
    "contact",
    "purpose",
    "case_number",
    "approved_by",
    "released_by",
    "mou",
    "reads",
    "files",
    "manifest_sha256",
    "query",
)


class ShareError(ValueError):
    """A share step that is refused; the message says why and what would be needed."""


@dataclass(frozen=True)
class Query:
    """Which reads a request asks for: plates (? and * wildcards) and/or a time range, at sites."""

    plates: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    sites: tuple[str, ...] = ()

    def check(self) -> Query:
        if not self.plates and (self.since is None or self.until is None):
            raise ShareError(
                "a request names plates, or a time range with both --since and --until"
            )
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ShareError("--until must be after --since")
        for p in self.plates:
            if not p.strip() or not all(c.isalnum() or c in "?*" for c in p):
                raise ShareError(f"plate {p!r}: letters, digits, ? and * only")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Query:
        doc = json.loads(text)
        return cls(
            tuple(doc.get("plates") or ()), doc.get("since"), doc.get("until"),
            tuple(doc.get("sites") or ()),
        )  # fmt: skip


@dataclass(frozen=True)
class Request:
    agency: str
    requester: str
    contact: str
    purpose: str
    case_number: str
    query: Query = field(default_factory=Query)

    def check(self) -> Request:
        for name in ("agency", "requester", "contact", "purpose", "case_number"):
            if not getattr(self, name).strip():
                raise ShareError(f"--{name.replace('_', '-')} must not be empty")
        self.query.check()
        return self


def ensure(db: AccessDB) -> sqlite3.Connection:
    conn = db.connect()
    conn.executescript(SCHEMA)
    return conn


def transaction(db: AccessDB) -> AbstractContextManager[sqlite3.Connection]:
    return schema_transaction(db, SCHEMA)


def find_agency(agencies: list[SharingAgency], name: str) -> SharingAgency | None:
    key = name.strip().casefold()
    return next((a for a in agencies if a.name.strip().casefold() == key), None)


def create(db: AccessDB, req: Request, by: str, source: str) -> int:
    """Record a written request; it can be released only after an approval."""
    req.check()
    with transaction(db) as conn:
        cur = conn.execute(
            "INSERT INTO shares (created, created_by, agency, requester, contact, purpose,"
            " case_number, query, status) VALUES (?,?,?,?,?,?,?,?,'requested')",
            (
                audit.iso(), by, req.agency.strip(), req.requester.strip(), req.contact.strip(),
                req.purpose.strip(), req.case_number.strip(), req.query.to_json(),
            ),
        )  # fmt: skip
        share_id = int(cur.lastrowid or 0)
        what = {"share": share_id, "agency": req.agency, "query": asdict(req.query)}
        audit.append_in(
            conn, by, "share request", kind=STEP_KIND, what=what,
            why=f"{req.purpose} (case {req.case_number})", source=source,
        )  # fmt: skip
    return share_id


def get(db: AccessDB, share_id: int) -> dict[str, Any]:
    row = ensure(db).execute("SELECT * FROM shares WHERE id=?", (share_id,)).fetchone()
    if row is None:
        raise ShareError(f"no share request {share_id}")
    return dict(row)


def listing(db: AccessDB, status: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM shares" + (" WHERE status=?" if status else "") + " ORDER BY id"
    return [dict(r) for r in ensure(db).execute(sql, (status,) if status else ())]


def mou_note(agency: SharingAgency | None) -> str | None:
    """The MOU's date, or None when the agency has none on file."""
    return agency.mou_signed if agency is not None and agency.mou_signed else None


def require_mou_or_chief(row: dict[str, Any], agency: SharingAgency | None, who: Principal) -> None:
    """No MOU on file: only the chief's role may approve, and the refusal says so."""
    if mou_note(agency) is None and CHIEF_ROLE not in who.roles:
        why = "is not in [[sharing.agencies]]" if agency is None else "has no MOU on file"
        raise ShareError(
            f"share {row['id']}: {row['agency']} {why}: a release to it must be approved by"
            f" the chief ({CHIEF_ROLE} role), not by {who.name}"
        )


def _pending(conn: sqlite3.Connection, share_id: int) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM shares WHERE id=?", (share_id,)).fetchone()
    if row is None:
        raise ShareError(f"no share request {share_id}")
    if row["status"] != "requested":
        raise ShareError(
            f"share {share_id} is {row['status']} already ({row['decided_by']}, {row['decided_at']})"
        )
    return dict(row)


def approve(
    db: AccessDB,
    share_id: int,
    who: Principal,
    verified_by: str,
    note: str,
    agencies: list[SharingAgency],
    source: str,
) -> dict[str, Any]:
    """Approve a request; a release to an agency without an MOU needs the chief and a note."""
    if not verified_by.strip():
        raise ShareError("--verified-by: say how the requester's identity was verified")
    current = get(db, share_id)
    agency = find_agency(agencies, current["agency"])
    mou = mou_note(agency)
    try:
        require_mou_or_chief(current, agency, who)
    except ShareError as exc:
        audit.append(
            db, who.name, "share approve refused", kind="denied",
            what={"share": share_id}, why=str(exc), source=source,
        )  # fmt: skip
        raise
    if mou is None and not note.strip():
        raise ShareError(
            f"share {share_id}: no MOU on file with this agency: the chief's approval needs"
            " a --note saying why the release is made without one"
        )
    with transaction(db) as conn:
        row = _pending(conn, share_id)
        conn.execute(
            "UPDATE shares SET status='approved', decided_by=?, decided_at=?, decided_roles=?,"
            " verified_by=?, decision_note=?, mou_signed=? WHERE id=?",
            (
                who.name, audit.iso(), ",".join(sorted(who.roles)), verified_by.strip(),
                note.strip(), mou, share_id,
            ),
        )  # fmt: skip
        what = {
            "share": share_id, "agency": row["agency"], "mou": mou or "none",
            "verified_by": verified_by.strip(),
        }  # fmt: skip
        audit.append_in(
            conn, who.name, "share approve", kind=STEP_KIND, what=what,
            why=note.strip() or f"identity verified: {verified_by.strip()}", source=source,
        )  # fmt: skip
    return get(db, share_id)


def deny(db: AccessDB, share_id: int, who: str, reason: str, source: str) -> None:
    if not reason.strip():
        raise ShareError("--reason must not be empty")
    with transaction(db) as conn:
        row = _pending(conn, share_id)
        conn.execute(
            "UPDATE shares SET status='denied', decided_by=?, decided_at=?, decision_note=?"
            " WHERE id=?",
            (who, audit.iso(), reason.strip(), share_id),
        )
        audit.append_in(
            conn, who, "share deny", kind=STEP_KIND,
            what={"share": share_id, "agency": row["agency"]}, why=reason.strip(), source=source,
        )  # fmt: skip


def releasable(row: dict[str, Any], agencies: list[SharingAgency]) -> None:
    """Only an approved request is released; a non-MOU release still needs the chief's approval
    (an MOU withdrawn since a manager approved sends the request back)."""
    if row["status"] == "fulfilled":
        raise ShareError(
            f"share {row['id']} was released already on {row['fulfilled_at']} to {row['out_dir']}"
        )
    if row["status"] != "approved":
        raise ShareError(f"share {row['id']} is {row['status']}: it must be approved first")
    approver_roles = set((row["decided_roles"] or "").split(","))
    if mou_note(find_agency(agencies, row["agency"])) is None and CHIEF_ROLE not in approver_roles:
        raise ShareError(
            f"share {row['id']}: {row['agency']} has no MOU on file now and {row['decided_by']}"
            f" is not the chief: the release needs the chief's ({CHIEF_ROLE}) approval"
        )


def mou_text(row: dict[str, Any]) -> str:
    if row["mou_signed"]:
        return f"MOU signed {row['mou_signed']}"
    return f"no MOU: release approved by {row['decided_by']} ({CHIEF_ROLE}): {row['decision_note']}"


def record_release(
    conn: sqlite3.Connection,
    row: dict[str, Any],
    by: str,
    out_dir: str,
    reads: int,
    files: int,
    manifest_sha256: str,
    source: str,
) -> None:
    """Mark the request fulfilled and write the dissemination log line and its audit record;
    the caller holds the write transaction."""
    at = audit.iso()
    cur = conn.execute(
        "UPDATE shares SET status='fulfilled', fulfilled_by=?, fulfilled_at=?, out_dir=?"
        " WHERE id=? AND status='approved'",
        (by, at, out_dir, row["id"]),
    )
    if not cur.rowcount:
        raise ShareError(f"share {row['id']} changed while it was being exported; try again")
    conn.execute(
        "INSERT INTO dissemination_log (at, share_id, agency, requester, contact, purpose,"
        " case_number, approved_by, released_by, mou, reads, files, manifest_sha256, query)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            at, row["id"], row["agency"], row["requester"], row["contact"], row["purpose"],
            row["case_number"], row["decided_by"], by, mou_text(row), reads, files,
            manifest_sha256, row["query"],
        ),
    )  # fmt: skip
    audit.append_in(
        conn, by, "share release", kind="inquiry",
        what={"share": row["id"], "agency": row["agency"], "files": files,
              "manifest_sha256": manifest_sha256, "query": json.loads(row["query"])},
        why=f"{row['purpose']} (case {row['case_number']})", source=source, result_count=reads,
    )  # fmt: skip


def dissemination_log(db: AccessDB) -> list[dict[str, Any]]:
    rows = ensure(db).execute(f"SELECT {', '.join(LOG_COLUMNS)} FROM dissemination_log ORDER BY id")
    return [dict(r) for r in rows]


def write_log_csv(out: TextIO, rows: list[dict[str, Any]]) -> None:
    """The dissemination log as CSV, one column per LOG_COLUMNS (the CLI's file, the console's
    download)."""
    w = csv.DictWriter(out, fieldnames=list(LOG_COLUMNS))
    w.writeheader()
    w.writerows(rows)
