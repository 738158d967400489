"""Every look at reads and hits is logged by name, time and reason; purges leave a proof."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import write_config
from sync_helpers import make_hit, make_read

from cloud.storage import FileTarget
from gateway.config import load
from gateway.hotlist import make_entry
from gateway.store import RefusedError, Store
from gateway.sync import Syncer


def alpr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_reads_list_filters_and_logs_access(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = Store(load(config).data_dir)
    make_read(store, text="ABC123", captured=time.time() - 3600)
    make_read(store, text="XYZ789", seed=2)
    out = alpr(
        "reads",
        "list",
        "--json",
        "--plate",
        "AB?12*",
        "--user",
        "analyst.kim",
        "--reason",
        "case 26-0042",
        "--config",
        str(config),
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["ABC123"] and rows[0]["alternates"] == [["ABC12B", 0.05]]
    out = alpr(
        "reads",
        "list",
        "--json",
        "--since",
        str(time.time() - 60),
        "--user",
        "analyst.kim",
        "--reason",
        "case 26-0042",
        "--config",
        str(config),
    )
    assert [json.loads(line)["text"] for line in out.stdout.splitlines()] == ["XYZ789"]
    log = (
        store.connect()
        .execute("SELECT user, action, reason, results FROM access_log ORDER BY id")
        .fetchall()
    )
    assert [tuple(r) for r in log] == [
        ("analyst.kim", "reads list", "case 26-0042", 1),
        ("analyst.kim", "reads list", "case 26-0042", 1),
    ]


def test_purge_log_prints_proof(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load(path)
    store = Store(config.data_dir)
    make_read(store, captured=time.time() - 40 * 86400)
    Syncer(config, store, FileTarget(tmp_path / "store")).purge()
    out = alpr("purge-log", "--json", "--config", str(path))
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert (
        len(records) == 1
        and records[0]["count"] == 1
        and records[0]["reason"] == "past agency retention"
    )
    assert len(records[0]["ids_sha256"]) == 64
    text = alpr("purge-log", "--config", str(path)).stdout
    assert "1 purged" in text and records[0]["ids_sha256"] in text


WHO = ("--user", "analyst.kim", "--reason", "case 26-0042")
FUTURE = (dt.date.today() + dt.timedelta(days=90)).isoformat()


def access_rows(store: Store) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in store.connect().execute("SELECT user, action, reason, query FROM access_log")
    ]


def test_reads_list_refused_without_user_and_reason(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    store = Store(load(config).data_dir)
    make_read(store, text="ABC123")
    for given, missing in (
        (("--user", "analyst.kim"), "--reason"),
        (("--reason", "case 26-0042"), "--user"),
        ((), "--user, --reason"),
    ):
        for command in ("reads", "hits"):
            out = alpr(command, "list", *given, "--config", config)
            assert out.returncode == 2 and "ABC123" not in out.stdout
            assert f"the following arguments are required: {missing}" in out.stderr
    out = alpr("reads", "list", "--user", " ", "--reason", "case 1", "--config", config)
    assert out.returncode == 2 and "user is required" in out.stderr and "ABC123" not in out.stdout
    out = alpr("reads", "list", "--user", "kim", "--reason", "", "--config", config)
    assert out.returncode == 2 and "reason" in out.stderr and "ABC123" not in out.stdout
    assert access_rows(store) == []
    with pytest.raises(RefusedError):
        store.log_access("kim", "reads list", "  ", {}, 0)
    before = time.time()
    out = alpr("reads", "list", "--plate", "ABC*", *WHO, "--config", config)
    assert out.returncode == 0 and "ABC123" in out.stdout
    row = store.connect().execute("SELECT * FROM access_log").fetchone()
    assert (row["user"], row["action"], row["reason"], row["results"]) == (
        "analyst.kim",
        "reads list",
        "case 26-0042",
        1,
    )
    assert json.loads(row["query"])["plate"] == "ABC*" and row["at"] >= before


def add_entry(store: Store, plate: str = "ABC123") -> int:
    fields = dict(
        plate=plate,
        category="stolen-vehicle",
        case_number="26-7",
        reason="stolen",
        requested_by="Det. Ray",
        contact="dispatch",
        instructions="verify",
        expires=FUTURE,
    )
    return store.add_hotlist_entry(make_entry(fields, "local"), "sgt.ortiz")


def test_open_hits_stay_listed_after_their_read_is_purged(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load(path)
    store = Store(config.data_dir)
    entry = add_entry(store)
    old = time.time() - 40 * 86400
    open_hit = make_hit(store, make_read(store, captured=old), entry, created=old)
    Syncer(config, store, FileTarget(tmp_path / "store")).purge()
    assert store.connect().execute("SELECT count(*) FROM reads").fetchone()[0] == 0
    out = alpr("hits", "list", "--open", "--json", *WHO, "--config", str(path))
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["id"], r["text"], r["camera"], r["site"]) for r in rows] == [
        (open_hit, "ABC123", "cam-01", "s1")
    ]
    assert rows[0]["captured"] == pytest.approx(old) and rows[0]["entry"]["case_number"] == "26-7"


def test_gateway_status_counts_hits_open_too_long(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    store = Store(load(path).data_dir)
    entry = add_entry(store)
    now = time.time()
    make_hit(store, make_read(store, seed=1), entry, created=now - 13 * 3600)
    make_hit(store, make_read(store, seed=2), entry, created=now - 3600)
    make_hit(store, make_read(store, seed=3), entry, created=now - 20 * 3600, disposition="misread")
    status = json.loads(alpr("gateway", "status", "--json", "--config", str(path)).stdout)
    assert status["hits_open"] == 2 and status["hits_open_overdue"] == 1
    assert "1 hits open longer than 12 h" in alpr("gateway", "status", "--config", str(path)).stdout
    path = write_config(tmp_path, extra="[hits]\nopen_alert_hours = 24\n")
    status = json.loads(alpr("gateway", "status", "--json", "--config", str(path)).stdout)
    assert status["hits_open_overdue"] == 0


def test_no_longer_wanted_asks_whether_to_cancel_the_entry(tmp_path: Path) -> None:
    path = str(write_config(tmp_path))
    store = Store(load(path).data_dir)
    entry = add_entry(store)
    hits = [make_hit(store, make_read(store, seed=i), entry) for i in range(3)]
    nlw = ("--status", "no-longer-wanted", "--note", "warrant served", "--user", "ofc.lee")

    out = alpr(
        "hits",
        "disposition",
        str(hits[0]),
        *nlw[2:],
        "--status",
        "misread",
        "--cancel-entry",
        "--config",
        path,
    )
    assert out.returncode == 2 and "only with --status no-longer-wanted" in out.stderr
    # a script must say which: nothing is recorded otherwise
    out = alpr("hits", "disposition", str(hits[0]), *nlw, "--config", path)
    assert out.returncode == 2 and "--cancel-entry or --keep-entry" in out.stderr
    assert (
        store.connect()
        .execute("SELECT count(*) FROM hits WHERE disposition IS NOT NULL")
        .fetchone()[0]
        == 0
    )

    out = alpr("hits", "disposition", str(hits[0]), *nlw, "--keep-entry", "--config", path)
    assert out.returncode == 0 and "stays active" in out.stdout
    assert store.hotlist_rows()[0]["id"] == entry

    # on a terminal, the question is asked
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "hits",
            "disposition",
            str(hits[1]),
            *nlw,
            "--config",
            path,
        ],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    os.write(master, b"y\n")
    stdout, stderr = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, stderr
    assert f"cancelled entry {entry}" in stdout
    assert store.hotlist_rows() == []
    history = store.hotlist_history(entry)
    assert [(h["action"], h["user"]) for h in history] == [
        ("added", "sgt.ortiz"),
        ("cancelled", "ofc.lee"),
    ]
    assert history[1]["reason"] == f"hit {hits[1]} no longer wanted: warrant served"

    # once cancelled, there is nothing left to ask
    out = alpr("hits", "disposition", str(hits[2]), *nlw, "--config", path)
    assert out.returncode == 0 and "nothing to cancel" in out.stdout


def test_retention_purges_each_kind_and_keeps_open_hits(tmp_path: Path) -> None:
    extra = (
        "[retention]\nalerts_days = 10\nhits_days = 20\nheartbeats_days = 5\n"
        "access_log_plates_days = 30\naccess_log_days = 100\n"
    )
    path = write_config(tmp_path, extra=extra)
    config = load(path)
    store = Store(config.data_dir)
    db = store.connect()
    now = time.time()
    day = 86400.0
    entry = add_entry(store)

    def hit(age_days: float, disposition: str | None = None) -> int:
        hit_id = make_hit(store, make_read(store), entry, now - age_days * day, disposition)
        db.execute(
            "INSERT INTO alerts (hit_id, target, payload, next_at, delivered_at)"
            " VALUES (?, '0:log', '{\"plate\": \"ABC123\"}', 0, 1)",
            (hit_id,),
        )
        return hit_id

    young, alert_old, hit_old, open_old = (
        hit(5, "confirmed"),
        hit(15, "misread"),
        hit(25, "other"),
        hit(400),
    )
    for age in (2, 6):
        db.execute(
            "INSERT INTO heartbeats (camera, received, body) VALUES ('cam-01', ?, '{}')",
            (now - age * day,),
        )
    for age in (10, 40, 120):
        store.log_access("kim", "reads list", "case 1", {"plate": "ABC123", "limit": 5}, 1)
        db.execute("UPDATE access_log SET at=? WHERE id=last_insert_rowid()", (now - age * day,))

    Syncer(config, store, FileTarget(tmp_path / "store")).purge(now)

    alerts = {r[0] for r in db.execute("SELECT hit_id FROM alerts")}
    assert alerts == {young}
    hits = {r[0] for r in db.execute("SELECT id FROM hits")}
    assert hits == {young, alert_old, open_old} and hit_old not in hits
    assert [r[0] for r in db.execute("SELECT received FROM heartbeats")] == [now - 2 * day]
    log = db.execute(
        "SELECT at, user, reason, query, plates_blanked FROM access_log ORDER BY at DESC"
    ).fetchall()
    assert [(round((now - r["at"]) / day), json.loads(r["query"])["plate"]) for r in log] == [
        (10, "ABC123"),
        (40, None),
    ]
    assert log[1]["user"] == "kim" and log[1]["reason"] == "case 1"
    assert json.loads(log[1]["query"])["limit"] == 5
    proof = {
        r["reason"]: r["count"]
        for r in db.execute("SELECT reason, count, ids_sha256 FROM purge_log")
        if len(r["ids_sha256"]) == 64
    }
    assert proof == {
        "alert payloads, past alerts_days": 3,
        "hits with a disposition, past hits_days": 1,
        "heartbeats, past heartbeats_days": 1,
        "access-log rows, past access_log_days": 1,
        "access-log plates blanked, past access_log_plates_days": 1,
    }
    # a second pass finds nothing more to do
    assert Syncer(config, store, FileTarget(tmp_path / "store")).purge(now) == 0


def test_a_store_from_before_gets_the_new_columns_and_hit_copies(tmp_path: Path) -> None:
    from gateway.store import MIGRATIONS

    store = Store(tmp_path)
    read_id = make_read(store, text="OLD123")
    entry = add_entry(store)
    db = store.connect()
    for table, column, _ in MIGRATIONS:
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute(
        "INSERT INTO hits (read_id, entry_id, entry, match_kind, matched_text, created)"
        " VALUES (?, ?, '{}', 'exact', 'OLD123', 0)",
        (read_id, entry),
    )
    db.close()
    row = Store(tmp_path).connect().execute("SELECT plate, camera, site FROM hits").fetchone()
    assert tuple(row) == ("OLD123", "cam-01", "s1")
