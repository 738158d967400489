"""On a real Ceph RGW: each role can do its job and nothing more, custody records are locked and
under no lifecycle rule, reads expire by capture time, and a corrupted upload is refused."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from access_helpers import Team
from botocore.exceptions import ClientError
from gateway_helpers import write_config
from s3local import role_info, s3_client
from sync_helpers import make_read

from cloud import bucket, evidence
from cloud.storage import S3Target, StorageError
from cloud.storage import s3_client as product_client
from gateway.access import audit, heads
from gateway.config import Config, load
from gateway.evidence_hold import hold_read
from gateway.store import Store
from gateway.sync import Syncer, read_prefix

DAY = 86400.0


def role_target(rgw: dict[str, str], role: str, name: str) -> S3Target:
    info = role_info(rgw, role) if role != "owner" else rgw
    client = product_client(info["endpoint"], info["access_key"], info["secret_key"])
    return S3Target(name, client, f"s3://{name}")


def config_for(tmp: Path, rgw: dict[str, str], name: str, retention: int) -> Config:
    """A deployment config that syncs with the gateway user's keys and holds with the evidence user's."""
    os.environ["ALPR_TEST_GW_ACCESS"] = rgw["gateway_access_key"]
    os.environ["ALPR_TEST_GW_SECRET"] = rgw["gateway_secret_key"]
    os.environ["ALPR_TEST_EV_ACCESS"] = rgw["evidence_access_key"]
    os.environ["ALPR_TEST_EV_SECRET"] = rgw["evidence_secret_key"]
    extra = (
        f'\n[storage]\ntarget = "s3://{name}"\nendpoint = "{rgw["endpoint"]}"\n'
        'access_key = "env:ALPR_TEST_GW_ACCESS"\nsecret_key = "env:ALPR_TEST_GW_SECRET"\n'
        f'gateway_principal = "{rgw["gateway_principal"]}"\n'
        '\n[evidence]\naccess_key = "env:ALPR_TEST_EV_ACCESS"\nsecret_key = "env:ALPR_TEST_EV_SECRET"\n'
        f'principal = "{rgw["evidence_principal"]}"\n'
    )
    tmp.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp, extra=extra)
    path.write_text(
        path.read_text().replace(
            'name = "Test PD"', f'name = "Test PD"\nretention_days = {retention}'
        )
    )
    return load(path)


def made_bucket(tmp: Path, rgw: dict[str, str], retention: int) -> tuple[Config, str]:
    """A bucket made by its owner with `cloud init`, policy naming both role users."""
    name = f"roles-{uuid.uuid4().hex[:8]}"
    config = config_for(tmp, rgw, name, retention)
    report = bucket.init(
        role_target(rgw, "owner", name),
        retention,
        config.storage.gateway_principal,
        config.evidence.principal,
    )
    assert not report.drift, report
    return config, name


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def refused(call: Any, **kw: Any) -> str:
    with pytest.raises(ClientError) as err:
        call(**kw)
    return code(err.value)


def test_gateway_keys_cannot_delete_hold_or_read_evidence(
    rgw: dict[str, str], tmp_path: Path
) -> None:
    config, name = made_bucket(tmp_path, rgw, retention=30)
    store = Store(config.data_dir)
    gateway, ev = role_target(rgw, "gateway", name), role_target(rgw, "evidence", name)
    read_id = make_read(store)
    assert Syncer(config, store, gateway).sync_once().synced == 1
    prefix = read_prefix(store.connect().execute("SELECT * FROM reads").fetchone())
    # the gateway's own keys are refused a hold: this is what the evidence role is for
    with pytest.raises(StorageError, match="AccessDenied"):
        evidence.hold(gateway, read_id, prefix, "C-1", "det.ray", "robbery")
    held = hold_read(config, store, ev, read_id, "C-1", "det.ray", "robbery")
    (record,) = list(ev.list("custody/C-1/"))
    g, b = gateway.client, name
    version = g.head_object(Bucket=b, Key=f"{prefix}.json")["VersionId"]
    assert refused(g.delete_object, Bucket=b, Key=f"{prefix}.json") == "AccessDenied"
    assert (
        refused(g.delete_object, Bucket=b, Key=f"{prefix}.json", VersionId=version)
        == "AccessDenied"
    )
    for status in ("ON", "OFF"):
        assert (
            refused(g.put_object_legal_hold, Bucket=b, Key=held[0], LegalHold={"Status": status})
            == "AccessDenied"
        )
    for key in (held[0], record.key):
        assert refused(g.get_object, Bucket=b, Key=key) == "AccessDenied"
        assert refused(g.put_object, Bucket=b, Key=key, Body=b"x") == "AccessDenied"
    # the evidence role reads what it holds and its records, and releases
    assert ev.legal_hold(held[0]) and ev.get(held[1]) == ev.get(f"{prefix}.json")
    assert evidence.custody(ev, "C-1")[0]["read"] == read_id
    evidence.release(ev, "C-1", "lt.moss", "case closed")
    assert list(ev.list("evidence/C-1/")) == []


def test_custody_is_locked_and_under_no_lifecycle_rule(rgw: dict[str, str], tmp_path: Path) -> None:
    _, name = made_bucket(tmp_path, rgw, retention=30)
    owner = role_target(rgw, "owner", name).client
    for rule in owner.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]:
        f = rule.get("Filter", {})
        prefix = f.get("Prefix", f.get("And", {}).get("Prefix", rule.get("Prefix")))
        assert prefix, f"rule {rule['ID']} is not scoped by prefix"
        assert not "custody/".startswith(prefix), f"rule {rule['ID']} covers custody/"
        assert not "audit/heads/".startswith(prefix), f"rule {rule['ID']} covers audit/heads/"
    ev = role_target(rgw, "evidence", name)
    evidence.record(ev, "C-9", "hold", "det.ray", "robbery", {}, custody_days=1095)
    (obj,) = list(ev.list("custody/C-9/"))
    # RGW 16.2: an object belongs to the user who wrote it, so its writer is the one to ask
    head = ev.client.head_object(Bucket=name, Key=obj.key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].timestamp() > time.time() + 1094 * DAY
    # the bucket owner may delete an unlocked version written there: only the lock stops it
    plain = ev.client.put_object(Bucket=name, Key="custody/C-9/unlocked.json", Body=b"{}")
    owner.delete_object(Bucket=name, Key="custody/C-9/unlocked.json", VersionId=plain["VersionId"])
    with pytest.raises(ClientError) as err:
        owner.delete_object(
            Bucket=name, Key=obj.key, VersionId=head["VersionId"], BypassGovernanceRetention=True
        )
    assert code(err.value) == "AccessDenied"
    assert ev.client.head_object(Bucket=name, Key=obj.key)["VersionId"] == head["VersionId"]


def test_reads_expire_counted_from_capture(rgw: dict[str, str], tmp_path: Path) -> None:
    """A lifecycle day is 10 s here: a read synced 5 days late (retention 6) goes within ~2 days."""
    config, name = made_bucket(tmp_path, rgw, retention=6)
    store = Store(config.data_dir)
    now = time.time()
    late = make_read(store, captured=now - 5 * DAY, seed=1)
    fresh = make_read(store, captured=now, seed=2)
    expired = make_read(store, captured=now - 6.5 * DAY, seed=3)
    gateway = role_target(rgw, "gateway", name)
    stats = Syncer(config, store, gateway).sync_once()
    assert (stats.synced, stats.expired) == (2, 1)
    # the read past retention was never sent, and its local copy is gone with a proof
    assert not [o.key for o in gateway.list("reads/") if expired in o.key]
    assert store.connect().execute("SELECT 1 FROM reads WHERE id=?", (expired,)).fetchone() is None
    proof = store.connect().execute("SELECT reason, count FROM purge_log").fetchall()
    assert [(r["reason"], r["count"]) for r in proof] == [("past agency retention", 1)]

    def present(read_id: str) -> bool:
        return any(read_id in o.key for o in gateway.list("reads/"))

    deadline = time.monotonic() + 50  # 5 lifecycle days; the old rule would keep it 6
    while present(late) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not present(late), "a read synced late outlived retention counted from capture"
    assert present(fresh), "a fresh read expired early"
    row = store.connect().execute("SELECT * FROM reads WHERE id=?", (fresh,)).fetchone()
    head = gateway.head(read_prefix(row) + ".json")
    assert head is not None and float(head.metadata["captured"]) == row["captured"]


def test_corrupted_upload_is_refused_and_not_recorded(
    rgw: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A byte flipped after the product computed Content-MD5 (before signing): RGW says BadDigest."""
    config, name = made_bucket(tmp_path, rgw, retention=30)
    store = Store(config.data_dir)
    gateway = role_target(rgw, "gateway", name)
    flipped: list[str] = []

    def flip(request: Any, **_: Any) -> None:
        # After the product computed Content-MD5, before SigV4 hashes the payload: the signature
        # then covers the damaged bytes, and only Content-MD5 can tell.
        body = request.data
        data = body.read() if hasattr(body, "read") else body
        if data:
            request.data = bytes([data[0] ^ 0x01]) + data[1:]
            flipped.append(request.url)

    gateway.client.meta.events.register("before-sign.s3.PutObject", flip)
    read_id = make_read(store)
    prefix = read_prefix(store.connect().execute("SELECT * FROM reads").fetchone())
    with pytest.raises(StorageError, match="BadDigest"):
        gateway.put(f"{prefix}.jpg", b"frame bytes")
    with caplog.at_level(logging.WARNING, logger="alpr.sync"):
        stats = Syncer(config, store, gateway).sync_once()
    assert stats.failures == 1 and stats.synced == 0 and flipped
    assert "BadDigest" in caplog.text
    row = store.connect().execute("SELECT synced_at FROM reads WHERE id=?", (read_id,)).fetchone()
    assert row["synced_at"] is None
    assert list(gateway.list("reads/")) == []
    gateway.client.meta.events.unregister("before-sign.s3.PutObject", flip)
    assert Syncer(config, store, gateway).sync_once().synced == 1  # the next pass retries
    frame = store.connect().execute("SELECT frame_path FROM reads").fetchone()[0]
    assert gateway.get(f"{prefix}.jpg") == (store.root / frame).read_bytes()


def test_export_refuses_a_key_that_would_escape(rgw: dict[str, str], tmp_path: Path) -> None:
    config, name = made_bucket(tmp_path, rgw, retention=30)
    store = Store(config.data_dir)
    ev = role_target(rgw, "evidence", name)
    read_id = make_read(store)
    hold_read(config, store, ev, read_id, "C-5", "det.ray", "robbery")
    owner = s3_client(rgw)  # type: ignore[arg-type]
    owner.put_object(Bucket=name, Key="evidence/C-5/../../escape.txt", Body=b"out")
    out = tmp_path / "export" / "case"
    with pytest.raises(StorageError, match="would leave the export folder"):
        evidence.export(ev, "C-5", out, "clerk", "discovery")
    assert (
        not (tmp_path / "escape.txt").exists() and not (tmp_path / "export" / "escape.txt").exists()
    )
    assert not any(out.rglob("*")) if out.exists() else True


def test_hold_uploads_an_unsynced_read_that_the_gateway_then_skips(
    rgw: dict[str, str], tmp_path: Path
) -> None:
    """Written by the evidence user, the read's objects stay readable to the gateway (by policy)."""
    config, name = made_bucket(tmp_path, rgw, retention=30)
    store = Store(config.data_dir)
    read_id = make_read(store)
    ev, gateway = role_target(rgw, "evidence", name), role_target(rgw, "gateway", name)
    held = hold_read(config, store, ev, read_id, "C-6", "det.ray", "hit and run")
    assert all(ev.legal_hold(k) for k in held)
    stats = Syncer(config, store, gateway).sync_once()
    assert (stats.synced, stats.skipped_existing, stats.failures) == (1, 2, 0)
    prefix = read_prefix(store.connect().execute("SELECT * FROM reads").fetchone())
    head = gateway.head(f"{prefix}.json")
    assert head is not None and head.metadata["read-id"] == read_id


def test_gateway_writes_a_locked_audit_head_it_cannot_delete(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    """With its own least-privilege keys the gateway writes the day's head under COMPLIANCE
    retention; nobody deletes it, and the gateway may lock nothing else."""
    config, name = made_bucket(tmp_path, rgw, retention=30)
    team = make_team(config.path)
    gateway, owner = role_target(rgw, "gateway", name), role_target(rgw, "owner", name).client
    days = config.retention.access_log_days
    ex = heads.HeadExporter(team.db, gateway, config.storage.target, days, "test")
    key = ex.export_if_due()
    assert key is not None and key.startswith("audit/heads/")
    head = gateway.client.head_object(Bucket=name, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].timestamp() > time.time() + (days - 1) * DAY
    version = head["VersionId"]
    denied = refused(gateway.client.delete_object, Bucket=name, Key=key, VersionId=version)
    assert denied == "AccessDenied"
    with pytest.raises(ClientError) as err:
        owner.delete_object(Bucket=name, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert code(err.value) == "AccessDenied"
    assert gateway.client.head_object(Bucket=name, Key=key)["VersionId"] == version
    # the heads read back with the gateway's keys verify the chain (`audit verify --heads-from-bucket`)
    assert audit.verify(team.db, audit.exported_heads(gateway)).ok
    code_, out, err_ = team.cli(
        "audit", "verify", "--heads-from-bucket", "--config", str(config.path), user="aud"
    )
    assert code_ == 0 and "1 exported heads matched" in out, out + err_
    # the retention it may set is on its heads only: locking a read past retention is refused
    store = Store(config.data_dir)
    make_read(store)
    assert Syncer(config, store, gateway).sync_once().synced == 1
    prefix = read_prefix(store.connect().execute("SELECT * FROM reads").fetchone())
    lock = {"Mode": "COMPLIANCE", "RetainUntilDate": head["ObjectLockRetainUntilDate"]}
    assert (
        refused(
            gateway.client.put_object_retention, Bucket=name, Key=f"{prefix}.json", Retention=lock
        )
        == "AccessDenied"
    )
