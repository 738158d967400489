"""The audit log's hash chain: edits, deletions and reorderings made straight in the SQLite file
are found, naming the first bad record; purges and exported heads keep it checkable."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from cloud.storage import open_target
from gateway.access import audit
from gateway.access.db import AccessDB


def filled(tmp_path: Path, n: int = 8, start: float | None = None) -> AccessDB:
    db = AccessDB(tmp_path)
    t0 = time.time() - n * 60 if start is None else start
    for i in range(n):
        audit.append(
            db,
            f"user{i % 3}",
            "reads list",
            kind="inquiry",
            what={"plate": f"ABC{i:03d}"},
            why=f"case 26-{i:04d}",
            source="cli:test@host",
            result_count=i,
            at=t0 + i * 60,
        )
    return db


def raw(db: AccessDB) -> sqlite3.Connection:
    """A separate connection, as someone editing the file with the sqlite3 shell would use."""
    return sqlite3.connect(db.path, isolation_level=None)


def test_untouched_log_verifies(tmp_path: Path) -> None:
    db = filled(tmp_path)
    check = audit.verify(db)
    assert check.ok and check.checked == 8 and check.first_bad is None


def test_an_inquiry_needs_a_reason(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    with pytest.raises(ValueError, match="case number or reason"):
        audit.append(db, "kim", "reads list", kind="inquiry", why="  ")
    with pytest.raises(ValueError, match="unknown audit kind"):
        audit.append(db, "kim", "reads list", kind="gossip", why="x")


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE audit SET result_count = 0 WHERE seq = 4", 4),
        ("UPDATE audit SET why = 'routine' WHERE seq = 6", 6),
        ("DELETE FROM audit WHERE seq = 3", 4),  # named: "expected record 3 before it"
        (
            "UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 5;"
            " UPDATE audit SET seq = 5 WHERE seq = -1",
            2,
        ),
        ("DELETE FROM audit WHERE seq = 1", 2),
    ],
    ids=["update-count", "update-reason", "delete", "swap-ids", "delete-first"],
)
def test_tampering_is_found_at_the_first_bad_record(
    tmp_path: Path, tamper: str, first_bad: int
) -> None:
    db = filled(tmp_path)
    raw(db).executescript(tamper)
    check = audit.verify(db)
    assert not check.ok and check.first_bad == first_bad, check
    assert f"record {first_bad}" in check.problem
    if tamper.startswith("DELETE"):
        assert f"expected record {first_bad - 1} before it" in check.problem


def test_rewriting_the_whole_chain_is_caught_by_an_exported_head(tmp_path: Path) -> None:
    db = filled(tmp_path / "db")
    target = open_target(f"file://{tmp_path / 'heads'}")
    h = audit.head(db)
    assert h is not None and h.seq == 8
    key = audit.write_head(target, h, lock_days=1095)
    assert key.startswith("audit/heads/") and audit.parse_head(target.get(key)) == h
    heads = audit.exported_heads(target)
    assert audit.verify(db, heads).ok
    # edit record 5 and recompute every hash after it: the chain alone looks fine again
    conn = raw(db)
    conn.execute("UPDATE audit SET why = 'none' WHERE seq = 5")
    prev = conn.execute("SELECT hash FROM audit WHERE seq = 4").fetchone()[0]
    for row in conn.execute("SELECT * FROM audit WHERE seq >= 5 ORDER BY seq").fetchall():
        rec = dict(
            zip([d[0] for d in conn.execute("SELECT * FROM audit").description], row, strict=True)
        )
        new = audit.record_hash(rec, prev)
        conn.execute("UPDATE audit SET prev_hash=?, hash=? WHERE seq=?", (prev, new, rec["seq"]))
        prev = new
    assert audit.verify(db).ok
    check = audit.verify(db, heads)
    assert not check.ok and check.first_bad == 8 and "exported" in check.problem
    # so is deleting the newest record
    db2 = filled(tmp_path / "db2")
    h2 = audit.head(db2)
    assert h2 is not None
    raw(db2).execute("DELETE FROM audit WHERE seq = 8")
    assert not audit.verify(db2, [h2]).ok


def test_purge_keeps_the_rest_verifiable(tmp_path: Path) -> None:
    now = time.time()
    db = filled(tmp_path, n=6, start=now - 4 * 365 * 86400)  # four years old
    for i in range(3):
        audit.append(db, "kim", "reads list", kind="inquiry", why=f"case {i}", at=now - 3600 + i)
    assert audit.purge(db, 1095, "boss", "test", now) == 6
    seqs = [r["seq"] for r in audit.records(db)]
    assert seqs == [7, 8, 9, 10]  # the purge is itself recorded
    assert audit.verify(db).ok
    purge = list(audit.records(db))[-1]
    assert purge["action"] == "audit purge" and json.loads(purge["what"])["first_seq"] == 7
    audit.append(db, "kim", "reads list", kind="inquiry", why="later")
    assert audit.verify(db).ok and audit.purge(db, 1095, "boss", "test", now) == 0
    # deleting more and claiming it was a purge does not work without the record of it
    raw(db).executescript(
        "DELETE FROM audit WHERE seq = 7; UPDATE audit_anchor SET first_seq = 8,"
        " prev_hash = (SELECT prev_hash FROM audit WHERE seq = 8)"
    )
    assert not audit.verify(db).ok


def test_purge_of_everything_continues_the_chain(tmp_path: Path) -> None:
    now = time.time()
    db = filled(tmp_path, n=3, start=now - 4 * 365 * 86400)
    assert audit.purge(db, 1095, "boss", "test", now) == 3
    assert [r["seq"] for r in audit.records(db)] == [4]
    assert audit.verify(db).ok
