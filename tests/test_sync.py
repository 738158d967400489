"""The sync contract, run against the embedded folder target and (when it can start) a real Ceph RGW."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import load_config
from sync_helpers import local_files, make_read

from cloud import bucket, evidence
from cloud.storage import FileTarget, S3Target, StorageError, Target
from gateway.config import Config
from gateway.evidence_hold import hold_read
from gateway.store import Store
from gateway.sync import Syncer, read_prefix

DAY = 86400.0


@pytest.fixture(params=["file", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "file":
        return FileTarget(tmp_path / "store")
    info = request.getfixturevalue("rgw")
    from s3local import s3_client

    client = s3_client(info)
    name = f"t-{uuid.uuid4().hex[:12]}"
    t = S3Target(name, client, f"s3://{name}")
    bucket.init(t, 1, None)
    return t


@pytest.fixture
def setup(tmp_path: Path, target: Target) -> tuple[Config, Store, Syncer]:
    config = load_config(tmp_path)
    store = Store(config.data_dir)
    return config, store, Syncer(config, store, target)


def test_sync_uploads_layout_once(setup: tuple[Config, Store, Syncer]) -> None:
    _, store, syncer = setup
    ids = [make_read(store, seed=i) for i in range(3)]
    stats = syncer.sync_once()
    assert stats.synced == 3 and stats.failures == 0
    row = store.connect().execute("SELECT * FROM reads WHERE id=?", (ids[0],)).fetchone()
    prefix = read_prefix(row)
    assert prefix.startswith("reads/dt=") and f"/site=s1/camera=cam-01/{ids[0]}" in prefix
    meta = json.loads(syncer.target.get(prefix + ".json"))
    assert (
        meta["text"] == "ABC123"
        and meta["frame_sha256"] == row["frame_sha256"]
        and meta["site"] == "s1"
    )
    assert syncer.target.get(prefix + ".jpg") == local_files(store, ids[0])[0].read_bytes()
    index = [o.key for o in syncer.target.list("reads/") if o.key.endswith(".ndjson")]
    assert len(index) == 1 and len(syncer.target.get(index[0]).splitlines()) == 3
    # nothing is sent twice: a second pass finds nothing queued
    assert syncer.sync_once().synced == 0


def test_crash_mid_upload_makes_no_duplicates(setup: tuple[Config, Store, Syncer]) -> None:
    _, store, syncer = setup
    read_id = make_read(store)
    row = store.connect().execute("SELECT * FROM reads WHERE id=?", (read_id,)).fetchone()
    prefix = read_prefix(row)
    # the upload started (recorded first), the frame went up, then the gateway died
    store.connect().execute("UPDATE reads SET sync_tried=1 WHERE id=?", (read_id,))
    syncer.target.put(prefix + ".jpg", local_files(store, read_id)[0].read_bytes())
    stats = syncer.sync_once()
    assert stats.synced == 1 and stats.skipped_existing == 1
    if isinstance(syncer.target, S3Target):
        versions = syncer.target.client.list_object_versions(
            Bucket=syncer.target.bucket, Prefix=prefix
        )
        assert len(versions.get("Versions", [])) == 2, "one version per object, none duplicated"


def test_corrupted_local_file_is_quarantined_not_uploaded(
    setup: tuple[Config, Store, Syncer],
) -> None:
    _, store, syncer = setup
    bad, good = make_read(store, seed=1), make_read(store, seed=2)
    frame = local_files(store, bad)[0]
    frame.write_bytes(frame.read_bytes()[:-10] + b"0123456789")
    stats = syncer.sync_once()
    assert stats.quarantined == 1 and stats.synced == 1
    row = (
        store.connect()
        .execute("SELECT quarantined, synced_at FROM reads WHERE id=?", (bad,))
        .fetchone()
    )
    assert "SHA-256" in row["quarantined"] and row["synced_at"] is None
    assert not [o for o in syncer.target.list("reads/") if bad in o.key]
    assert (store.root / "quarantine" / bad / frame.name).exists()
    assert [o for o in syncer.target.list("reads/") if good in o.key]


def test_purge_keeps_unsynced_until_retention_and_logs_proof(
    setup: tuple[Config, Store, Syncer],
) -> None:
    _, store, syncer = setup
    now = time.time()
    old_synced = make_read(store, captured=now - 10 * DAY, seed=1)  # past local retention (7 d)
    syncer.sync_once()
    old_unsynced = make_read(store, captured=now - 10 * DAY, seed=2)  # target was down since
    expired = make_read(store, captured=now - 31 * DAY, seed=3)  # past agency retention (30 d)
    fresh = make_read(store, captured=now - DAY, seed=4)
    files = {r: local_files(store, r) for r in (old_synced, old_unsynced, expired, fresh)}
    assert syncer.purge(now) == 2
    remaining = {r[0] for r in store.connect().execute("SELECT id FROM reads")}
    assert remaining == {old_unsynced, fresh}
    assert not any(p.exists() for p in files[old_synced] + files[expired])
    assert all(p.exists() for p in files[old_unsynced] + files[fresh])
    log = (
        store.connect()
        .execute("SELECT reason, count, ids_sha256 FROM purge_log ORDER BY id")
        .fetchall()
    )
    assert [(r["reason"], r["count"]) for r in log] == [
        ("synced, past local retention", 1),
        ("past agency retention", 1),
    ]
    import hashlib

    assert log[0]["ids_sha256"] == hashlib.sha256(old_synced.encode()).hexdigest()


def test_unreachable_target_fails_clearly_and_purges_nothing(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    store = Store(config.data_dir)
    from cloud.storage import s3_client

    dead = S3Target("missing", s3_client("http://127.0.0.1:9", "k", "s"), "s3://missing")
    syncer = Syncer(config, store, dead)
    read_id = make_read(store, captured=time.time() - 10 * DAY)
    stats = syncer.sync_once()
    assert stats.failures == 1 and stats.synced == 0
    syncer.purge()
    assert (
        store.connect().execute("SELECT count(*) FROM reads WHERE id=?", (read_id,)).fetchone()[0]
        == 1
    )
    with pytest.raises(StorageError, match="s3://missing"):
        dead.put("reads/x", b"x")


def test_evidence_hold_survives_sweep_and_goes_after_release(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    store = Store(config.data_dir)
    target = FileTarget(tmp_path / "store")
    syncer = Syncer(config, store, target)
    keep, other = make_read(store, seed=1), make_read(store, seed=2)
    syncer.sync_once()
    held = hold_read(config, store, target, keep, "26-000451", "det.ray", "hit-and-run, opened")
    original = {k: target.get(k) for k in held}
    later = time.time() + 45 * DAY
    for _ in range(3):  # several lifecycle passes
        target.sweep("reads/", config.retention_days, later)
    assert not [o for o in target.list("reads/") if other in o.key], "an ordinary read expired"
    assert {k: target.get(k) for k in held} == original, "held evidence is byte-identical"
    with pytest.raises(StorageError, match="legal hold"):
        target.delete(held[0])
    evidence.release(target, "26-000451", "lt.moss", "case closed, court order 12")
    assert not list(target.list(f"evidence/26-000451/{keep}"))
    events = evidence.custody(target, "26-000451")
    assert [(e["action"], e["user"]) for e in events] == [
        ("hold", "det.ray"),
        ("release", "lt.moss"),
    ]


def test_evidence_export_manifest(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    store = Store(config.data_dir)
    target = FileTarget(tmp_path / "store")
    read_id = make_read(store)
    Syncer(config, store, target).sync_once()
    hold_read(config, store, target, read_id, "C-7", "det.ray", "robbery")
    manifest = evidence.export(target, "C-7", tmp_path / "out", "clerk.ann", "discovery request")
    doc = json.loads(manifest.read_text())
    import hashlib

    for f in doc["files"]:
        assert (
            hashlib.sha256((tmp_path / "out" / f["file"]).read_bytes()).hexdigest() == f["sha256"]
        )
        assert f["legal_hold"] is True
    custody = json.loads((tmp_path / "out" / "custody.json").read_text())
    assert [e["action"] for e in custody] == ["hold", "export"] and custody[1][
        "user"
    ] == "clerk.ann"
    with pytest.raises(StorageError, match="not a full read id"):
        hold_read(config, store, target, "no-such-read", "C-7", "det.ray", "x")
    with pytest.raises(StorageError, match="case number"):
        hold_read(config, store, target, read_id, "../etc", "det.ray", "x")


def test_verify_retention_counts_from_capture_not_upload(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    from gateway_helpers import write_config

    path = write_config(tmp_path)
    path.write_text(
        path.read_text().replace("[gateway]", '[storage]\ntarget = "file://store"\n\n[gateway]')
    )
    target = FileTarget(tmp_path / "store")
    now = time.time()

    def day(t: float) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(t))

    # uploaded just now, both: only capture time tells them apart
    old_key = f"reads/dt={day(now - 40 * DAY)}/site=s1/camera=c/old.json"
    target.put(old_key, b"{}", {"captured": repr(now - 40 * DAY)})
    target.put(f"reads/dt={day(now)}/site=s1/camera=c/new.json", b"{}", {"captured": repr(now)})
    # on the last day of grace by its date, yet its metadata says it is within it
    edge = now - 31.5 * DAY
    target.put(f"reads/dt={day(edge)}/site=s1/camera=c/edge.json", b"{}", {"captured": repr(edge)})
    team = make_team(path)
    cli = ("cloud", "verify-retention", "--config", str(path))
    code, out, err = team.cli(*cli, user="aud")
    assert code == 1, out + err
    assert "old.json" in out and "new.json" not in out, out
    assert "edge.json" not in out
    assert "1 objects under reads/ captured more than 30 + 2 days ago" in out
    target.sweep("reads/", 30)
    assert team.cli(*cli, user="aud")[0] == 0
    assert [o.key for o in target.list("reads/") if "new.json" in o.key]
