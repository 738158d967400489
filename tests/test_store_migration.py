"""The store carries a schema version; older stores are backed up and upgraded step by step,
newer ones are refused; `alpr gateway backup` and `restore` work on a real SQLite store."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_helpers import write_config
from sync_helpers import make_read

from gateway import migrations
from gateway.config import load
from gateway.migrations import StoreVersionError
from gateway.store import Store

FIRST_RELEASE = Path(__file__).with_name("data") / "store-v1.sql"
TABLES = ("events", "reads", "hotlist", "hits", "alerts", "access_log", "meta")


def alpr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True, timeout=60
    )


def first_release_store(data_dir: Path) -> Path:
    """A store as the first release left it (schema of commit bd155eb, no user_version)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / "gateway.db")
    db.executescript(FIRST_RELEASE.read_text())
    db.close()
    return data_dir / "gateway.db"


def counts(db: sqlite3.Connection) -> dict[str, int]:
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def shape(db: sqlite3.Connection) -> dict[str, object]:
    """Every table's columns (name, type, not null, default) and every index: what code relies on."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    out: dict[str, object] = {
        t: sorted((r[1], r[2], r[3], r[4]) for r in db.execute(f"PRAGMA table_info({t})"))
        for t in tables
    }
    out["indexes"] = sorted(
        r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")
    )
    return out


def test_a_first_release_store_is_backed_up_then_upgraded_keeping_its_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = first_release_store(tmp_path / "data")
    before = counts(sqlite3.connect(path))
    assert before["reads"] == 2 and before["hits"] == 1
    with caplog.at_level(logging.INFO, logger="alpr.store"):
        store = Store(tmp_path / "data")
    db = store.connect()
    assert db.execute("PRAGMA user_version").fetchone()[0] == migrations.CURRENT
    assert counts(db) == before
    # the hit got its own copy of its read, the access log its new flag
    hit = db.execute("SELECT plate, camera, site, captured FROM hits").fetchone()
    assert tuple(hit) == ("XYZ987", "cam-01", "main-st", 1790000002.0)
    assert db.execute("SELECT plates_blanked FROM access_log").fetchone()[0] == 0
    # the upgraded store has exactly the shape of a new one
    assert shape(db) == shape(Store(tmp_path / "new").connect())
    # the backup is the store as it was, taken before any step
    backups = list((tmp_path / "data" / "backups").glob("store-v1-*.db"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert counts(old) == before
    assert "plate" not in {r[1] for r in old.execute("PRAGMA table_info(hits)")}
    steps = [r.getMessage() for r in caplog.records if "upgraded from" in r.getMessage()]
    assert [s.split(":")[0] for s in steps] == [
        f"store upgraded from schema version {n} to {n + 1}" for n in range(1, migrations.CURRENT)
    ]
    assert any(str(backups[0]) in r.getMessage() for r in caplog.records)
    # opened again: nothing to do, no second backup
    Store(tmp_path / "data")
    assert len(list((tmp_path / "data" / "backups").iterdir())) == 1


def test_a_new_store_is_created_at_the_current_version_without_a_backup(tmp_path: Path) -> None:
    db = Store(tmp_path).connect()
    assert db.execute("PRAGMA user_version").fetchone()[0] == migrations.CURRENT
    assert not (tmp_path / "backups").exists()


def test_an_unversioned_store_with_some_later_columns_is_upgraded(tmp_path: Path) -> None:
    """Builds between releases added some columns without a version; the steps skip those."""
    path = first_release_store(tmp_path)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE hotlist ADD COLUMN cancelled_at REAL")
    db.commit()
    db.close()
    store = Store(tmp_path)
    cols = {r[1] for r in store.connect().execute("PRAGMA table_info(hotlist)")}
    assert {"cancelled_at", "cancelled_by", "cancel_reason"} <= cols


def test_a_store_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    data = load(config).data_dir
    Store(data).connect().execute(f"PRAGMA user_version={migrations.CURRENT + 1}")
    with pytest.raises(StoreVersionError, match="newer than this release"):
        Store(data)
    out = alpr("gateway", "backup", "--out", str(tmp_path / "b.db"), "--config", str(config))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("alpr: the store") and "newer than this release" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_backup_and_restore_from_the_command_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    data = load(config).data_dir
    store = Store(data)
    make_read(store, text="KEEP123")
    backup = tmp_path / "b.db"
    out = alpr("gateway", "backup", "--out", str(backup), "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "1 reads" in out.stdout
    # a backup never overwrites
    out = alpr("gateway", "backup", "--out", str(backup), "--config", str(config))
    assert out.returncode == 2 and "exists" in out.stderr
    # the store moves on (and loses its read), then is restored from the backup
    make_read(store, text="LATER99", seed=2)
    store.connect().execute("DELETE FROM reads WHERE text='KEEP123'")
    out = alpr("gateway", "restore", str(backup), "--config", str(config))
    assert out.returncode == 0, out.stderr
    texts = [r[0] for r in sqlite3.connect(data / "gateway.db").execute("SELECT text FROM reads")]
    assert texts == ["KEEP123"]
    # the store it replaced was kept
    replaced = list((data / "backups").glob("*-replaced.db"))
    assert len(replaced) == 1
    kept = sqlite3.connect(replaced[0]).execute("SELECT text FROM reads").fetchall()
    assert kept == [("LATER99",)]


def test_restore_refuses_a_damaged_file_and_a_running_gateway(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    data = load(config).data_dir
    Store(data)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    out = alpr("gateway", "restore", str(junk), "--config", str(config))
    assert out.returncode == 2 and "not a SQLite database" in out.stderr
    assert "Traceback" not in out.stderr
    # a SQLite file whose pages are damaged fails the integrity check
    damaged = tmp_path / "damaged.db"
    db = sqlite3.connect(damaged)
    db.execute("PRAGMA page_size=1024")
    db.executescript(
        "CREATE TABLE events (x); CREATE TABLE reads (x); CREATE TABLE hits (x);"
        "CREATE INDEX reads_x ON reads (x);"
    )
    db.executemany("INSERT INTO reads VALUES (?)", [(f"plate-{i:06d}",) for i in range(2000)])
    db.commit()
    db.close()
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) - 3000 : len(raw) - 2000] = bytes(1000)  # zero part of a late page
    damaged.write_bytes(bytes(raw))
    out = alpr("gateway", "restore", str(damaged), "--config", str(config))
    assert out.returncode == 2 and "integrity" in out.stderr, out.stderr
    # a gateway holding the service lock blocks the restore
    good = tmp_path / "good.db"
    assert alpr("gateway", "backup", "--out", str(good), "--config", str(config)).returncode == 0
    fd = os.open(data / "gateway.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        out = alpr("gateway", "restore", str(good), "--config", str(config))
    finally:
        os.close(fd)
    assert out.returncode == 2 and "a gateway is running" in out.stderr and "4242" in out.stderr
    assert alpr("gateway", "restore", str(good), "--config", str(config)).returncode == 0


def test_restoring_a_first_release_backup_into_a_new_data_folder_upgrades_it(
    tmp_path: Path,
) -> None:
    old = first_release_store(tmp_path / "old")
    before = counts(sqlite3.connect(old))
    config = write_config(tmp_path)
    data = load(config).data_dir
    assert not data.exists()
    out = alpr("gateway", "restore", str(old), "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "schema version 1" in out.stdout
    db = Store(data).connect()
    assert db.execute("PRAGMA user_version").fetchone()[0] == migrations.CURRENT
    assert counts(db) == before
    assert len(list((data / "backups").glob("store-v1-*.db"))) == 1  # the upgrade's own backup


def test_a_second_gateway_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    from gateway.backup import ServiceLock

    config = write_config(tmp_path)
    with ServiceLock(load(config).data_dir):
        out = alpr("gateway", "serve", "--config", str(config))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"a gateway is running on {load(config).data_dir} (pid {os.getpid()})" in out.stderr
