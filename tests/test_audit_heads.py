"""The gateway writes the audit chain's head to its storage target once a day, locked; `alpr audit
verify --heads-from-bucket` then catches a rewritten chain. Folder target here; RGW in
test_cloud_roles.py."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import write_config

from cloud import bucket
from cloud.storage import FileTarget, StorageError, open_target
from gateway.access import audit, heads
from gateway.config import load
from gateway.service import Gateway
from gateway.store import Store
from gateway.sync import Syncer, SyncWorker

DAY = 86400.0


def today(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()


def exporter(team: Team, target: FileTarget) -> heads.HeadExporter:
    return heads.HeadExporter(team.db, target, target.url, 1095, "test")


def test_one_locked_head_a_day(tmp_path: Path, make_team: Callable[[Path], Team]) -> None:
    team = make_team(write_config(tmp_path))
    target = FileTarget(tmp_path / "store")
    ex = exporter(team, target)
    now = time.time()
    h = audit.head(team.db)
    key = ex.export_if_due(now)
    assert key == f"audit/heads/{today(now)}.json"
    assert audit.parse_head(target.get(key)) == h
    with pytest.raises(StorageError, match="Object Lock retention"):
        target.delete(key)
    with pytest.raises(StorageError, match="locked until"):
        target.put(key, b"{}")
    # the export is itself a record, naming the head and where it went
    (rec,) = [r for r in team.records() if r["action"] == heads.ACTION]
    assert rec["user"] == "gateway" and rec["kind"] == "system"
    assert json.loads(rec["what"]) == {
        "seq": h.seq if h else None,
        "hash": h.hash if h else None,
        "key": key,
        "target": target.url,
    }
    assert ex.export_if_due(now + 60) is None  # once a day
    assert ex.export_if_due(now + DAY) == f"audit/heads/{today(now + DAY)}.json"
    assert [x.seq for x in audit.exported_heads(target)] == [rec["seq"] - 1, rec["seq"]]
    assert audit.verify(team.db, audit.exported_heads(target)).ok


def test_nothing_to_export_from_an_empty_log(tmp_path: Path) -> None:
    from gateway.access.db import AccessDB

    target = FileTarget(tmp_path / "store")
    ex = heads.HeadExporter(AccessDB(tmp_path / "data"), target, target.url, 1095, "test")
    assert ex.export_if_due() is None and list(target.list("audit/")) == []


class Watched(heads.HeadExporter):
    """The real exporter, saying when the worker has asked it."""

    asked = threading.Event()

    def export_if_due(self, now: float | None = None) -> str | None:
        try:
            return super().export_if_due(now)
        finally:
            self.asked.set()


def run_worker(syncer: Syncer, ex: Watched) -> None:
    """Start the sync worker, wait for its first head check (with the first purge), stop it."""
    ex.asked = threading.Event()
    stop = threading.Event()
    worker = SyncWorker(syncer, stop, idle_s=0.05, heads=ex)
    worker.start()
    try:
        assert ex.asked.wait(30), "the sync worker never checked the audit head"
    finally:
        stop.set()
        worker.join(timeout=10)


def test_sync_worker_writes_the_head_at_start_only_when_the_last_is_old(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    path = write_config(tmp_path)
    config = load(path)
    team = make_team(path)
    target = FileTarget(tmp_path / "store")
    syncer = Syncer(config, Store(config.data_dir), target)
    ex = Watched(team.db, target, target.url, 1095, "test")
    now = time.time()
    # exported today already, to this target: a restart writes nothing more
    export = {"target": target.url}
    audit.append(team.db, "gateway", heads.ACTION, kind="system", what=export, at=now - DAY)
    audit.append(team.db, "gateway", heads.ACTION, kind="system", what=export, at=now)
    run_worker(syncer, ex)
    assert list(target.list("audit/")) == []
    # the last export to this target was yesterday (today's went elsewhere): one is written
    audit.append(team.db, "gateway", heads.ACTION, kind="system", what=export, at=now - DAY)
    elsewhere = {"target": "file://elsewhere"}
    audit.append(team.db, "gateway", heads.ACTION, kind="system", what=elsewhere, at=now)
    run_worker(syncer, ex)
    assert [o.key for o in target.list("audit/")] == [f"audit/heads/{today(now)}.json"]
    (written,) = audit.exported_heads(target)
    assert written.seq == audit.head(team.db).seq - 1  # type: ignore[union-attr]


def test_gateway_exports_the_head_at_start(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    path = write_config(tmp_path)
    team = make_team(path)
    config = load(path)
    gateway = Gateway(config)
    gateway.start()
    try:
        store = open_target(config.storage.target, base=config.storage.base)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(store.list("audit/heads/")):
            time.sleep(0.1)
    finally:
        gateway.shutdown()
    (obj,) = list(store.list("audit/heads/"))
    assert obj.key == f"audit/heads/{today(time.time())}.json"
    last = [r for r in team.records() if r["action"] == heads.ACTION][-1]
    assert last["source"].startswith("gateway:")
    assert audit.verify(team.db, audit.exported_heads(store)).ok


def test_no_lifecycle_rule_covers_the_audit_heads() -> None:
    for days in (1, 30, 365):
        for rule in bucket.lifecycle_rules(days):
            prefix, _ = bucket.filter_meaning(rule)
            assert prefix and not audit.HEAD_PREFIX.startswith(prefix), rule["ID"]


def test_verify_against_the_heads_in_the_bucket(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    path = write_config(tmp_path)
    team = make_team(path)
    config = load(path)
    store = open_target(config.storage.target, base=config.storage.base)
    verify = ("audit", "verify", "--heads-from-bucket", "--config", str(path))
    code, _, err = team.cli(*verify, user="aud")
    assert code == 0 and "no audit heads under" in err, err
    ex = heads.HeadExporter(team.db, store, config.storage.target, 1095, "test")
    assert ex.export_if_due() is not None
    code, out, err = team.cli(*verify, user="aud")
    assert code == 0 and "1 exported heads matched" in out, out + err
    # the newest records deleted: the chain alone still verifies, the exported head does not
    h = audit.head(team.db)
    assert h is not None
    team.db.connect().execute("DELETE FROM audit WHERE seq >= ?", (h.seq - 2,))
    assert audit.verify(team.db).ok
    code, _, err = team.cli(*verify, user="aud")
    assert code == 1 and "differs from the head exported" in err, err
    code, _, err = team.cli(*verify, user="ofc")
    assert code != 0 and "refused" in err
