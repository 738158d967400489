"""The proof against a real Ceph RGW, a lifecycle day lasting 10 s: reads expire by themselves,
evidence survives until released, and sync survives outages and kill -9 with every read landing once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from access_helpers import Team
from gateway_helpers import write_config
from sync_helpers import make_read

from cloud import evidence
from cloud.storage import S3Target, s3_client
from gateway.config import Config, load
from gateway.evidence_hold import hold_read
from gateway.store import Store
from gateway.sync import Syncer, SyncWorker


def s3_config(
    tmp: Path,
    rgw: dict[str, str],
    bucket: str,
    retention: int = 1,
    secret: str | None = None,
    principal: str | None = None,
) -> Config:
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["ALPR_TEST_S3_ACCESS"] = rgw["access_key"]
    os.environ["ALPR_TEST_S3_SECRET"] = secret or rgw["secret_key"]
    extra = (
        f'\n[storage]\ntarget = "s3://{bucket}"\nendpoint = "{rgw["endpoint"]}"\n'
        'access_key = "env:ALPR_TEST_S3_ACCESS"\nsecret_key = "env:ALPR_TEST_S3_SECRET"\n'
        + (f'gateway_principal = "{principal}"\n' if principal else "")
    )
    path = write_config(tmp, extra=extra)
    path.write_text(
        path.read_text().replace(
            'name = "Test PD"', f'name = "Test PD"\nretention_days = {retention}'
        )
    )
    return load(path)


def alpr(team: Team, *args: str) -> subprocess.CompletedProcess[str]:
    """`alpr ARGS` logged in as the admin, in this process: the same main() and output as a
    process of its own, without paying the command's imports again for every call."""
    code, out, err = team.cli(*args, user="boss")
    return subprocess.CompletedProcess(["alpr", *args], code, out, err)


def target_of(config: Config) -> S3Target:
    access, secret = config.storage.credentials()
    bucket = config.storage.target.removeprefix("s3://")
    return S3Target(
        bucket, s3_client(config.storage.endpoint, access, secret), config.storage.target
    )


def keys(target: S3Target, prefix: str) -> list[str]:
    return [o.key for o in target.list(prefix)]


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_init_is_idempotent_and_check_finds_drift(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    principal = "arn:aws:iam:::user/alpr-gateway"
    config = s3_config(
        tmp_path, rgw, f"init-{uuid.uuid4().hex[:8]}", retention=30, principal=principal
    )
    team = make_team(config.path)
    for _ in range(2):
        out = alpr(team, "cloud", "init", "--config", str(config.path))
        assert out.returncode == 0, out.stdout + out.stderr
    assert "versioning enabled" in out.stdout and "Object Lock enabled" in out.stdout
    assert f"least-privilege policy for {principal}" in out.stdout
    policy = target_of(config).client.get_bucket_policy(Bucket=target_of(config).bucket)["Policy"]
    assert '"s3:DeleteObject"' in policy and "reads/*" in policy
    assert (
        "UNSUPPORTED default encryption" in out.stdout
    )  # RGW 16.2 refuses PutBucketEncryption: said
    out = alpr(team, "cloud", "check", "--config", str(config.path))
    assert out.returncode == 0 and "no drift" in out.stdout, out.stdout
    target_of(config).client.put_bucket_lifecycle_configuration(
        Bucket=target_of(config).bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "reads-retention",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "reads/"},
                    "Expiration": {"Days": 365},
                }
            ]
        },
    )
    out = alpr(team, "cloud", "check", "--config", str(config.path))
    assert out.returncode == 1
    assert "reads-retention: Expiration is {'Days': 365}, config says {'Days': 30}" in out.stdout
    assert "evidence-uploads is missing" in out.stdout and "reads-life-1 is missing" in out.stdout
    assert alpr(team, "cloud", "verify-retention", "--config", str(config.path)).returncode == 0


def test_reads_expire_by_themselves_but_evidence_stays_until_released(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = s3_config(tmp_path, rgw, f"lc-{uuid.uuid4().hex[:8]}", retention=1)
    team = make_team(config.path)
    assert alpr(team, "cloud", "init", "--config", str(config.path)).returncode == 0
    target = target_of(config)
    store = Store(config.data_dir)
    gone, kept = make_read(store, seed=1), make_read(store, seed=2)
    assert Syncer(config, store, target).sync_once().synced == 2
    held = hold_read(config, store, target, kept, "26-77", "det.ray", "burglary series")
    original = {k: target.get(k) for k in held}
    assert wait_for(lambda: not [k for k in keys(target, "reads/") if gone in k], 240), (
        "read did not expire"
    )
    time.sleep(30)  # several more lifecycle passes
    assert {k: target.get(k) for k in held} == original, "held evidence changed or vanished"
    assert not [k for k in keys(target, "reads/") if kept in k], (
        "the original itself expired on time"
    )
    evidence.release(target, "26-77", "lt.moss", "case closed")
    assert keys(target, "evidence/26-77/") == []
    versions = target.client.list_object_versions(Bucket=target.bucket, Prefix="evidence/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    assert [e["action"] for e in evidence.custody(target, "26-77")] == ["hold", "release"]


def one_version_each(target: S3Target, ids: list[str], store: Store) -> None:
    versions = target.client.list_object_versions(Bucket=target.bucket, Prefix="reads/")
    counts: dict[str, int] = {}
    for v in versions.get("Versions", []):
        counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    for read_id in ids:
        mine = {k: n for k, n in counts.items() if read_id in k}
        assert len(mine) == 2 and set(mine.values()) == {1}, f"read {read_id}: {mine}"
    assert (
        store.connect().execute("SELECT count(*) FROM reads WHERE synced_at IS NULL").fetchone()[0]
        == 0
    )


def test_rgw_down_mid_sync_every_read_lands_once(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    import s3local

    config = s3_config(tmp_path, rgw, f"outage-{uuid.uuid4().hex[:8]}", retention=30)
    team = make_team(config.path)
    assert alpr(team, "cloud", "init", "--config", str(config.path)).returncode == 0
    target = target_of(config)
    store = Store(config.data_dir)
    ids = [make_read(store, seed=i) for i in range(40)]
    stop = threading.Event()
    worker = SyncWorker(Syncer(config, store, target), stop, idle_s=0.2)
    worker.start()
    try:
        wait_for(
            lambda: (
                store.connect()
                .execute("SELECT count(*) FROM reads WHERE synced_at IS NOT NULL")
                .fetchone()[0]
                > 0
            ),
            60,
        )
        s3local.stop_rgw(rgw["data_dir"])
        time.sleep(5)
        s3local.start_rgw(rgw["data_dir"])
        assert wait_for(
            lambda: (
                store.connect()
                .execute("SELECT count(*) FROM reads WHERE synced_at IS NULL")
                .fetchone()[0]
                == 0
            ),
            240,
        )
    finally:
        stop.set()
        worker.join(timeout=10)
    one_version_each(target, ids, store)


SYNC_SCRIPT = """
import sys, time
from cloud.storage import S3Target, s3_client
from gateway.config import load
from gateway.store import Store
from gateway.sync import Syncer
config = load(sys.argv[1])
access, secret = config.storage.credentials()
target = S3Target(config.storage.target[5:], s3_client(config.storage.endpoint, access, secret), "")
syncer = Syncer(config, Store(config.data_dir), target)
while syncer.sync_once(limit=1).synced:
    pass
"""


def test_kill_9_mid_upload_leaves_no_duplicates_or_partial_objects(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = s3_config(tmp_path, rgw, f"kill-{uuid.uuid4().hex[:8]}", retention=30)
    team = make_team(config.path)
    assert alpr(team, "cloud", "init", "--config", str(config.path)).returncode == 0
    store = Store(config.data_dir)
    ids = [make_read(store, seed=i) for i in range(30)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for delay in (0.8, 1.5, 2.5):
        proc = subprocess.Popen([sys.executable, "-c", SYNC_SCRIPT, str(config.path)], env=env)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    subprocess.run(
        [sys.executable, "-c", SYNC_SCRIPT, str(config.path)], env=env, check=True, timeout=300
    )
    target = target_of(config)
    one_version_each(target, ids, store)
    for read_id in ids[:5]:
        row = (
            store.connect()
            .execute("SELECT frame_path FROM reads WHERE id=?", (read_id,))
            .fetchone()
        )
        key = next(k for k in keys(target, "reads/") if k.endswith(f"{read_id}.jpg"))
        assert target.get(key) == (store.root / row[0]).read_bytes(), (
            "object is whole and identical"
        )


def test_bad_credentials_or_missing_bucket_fail_clearly_and_purge_nothing_unsynced(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = s3_config(
        tmp_path / "a", rgw, f"creds-{uuid.uuid4().hex[:8]}", retention=30, secret="wrong-secret"
    )
    team = make_team(config.path)
    out = alpr(team, "cloud", "check", "--config", str(config.path))
    assert out.returncode != 0 and "denied (403): wrong credentials" in out.stdout
    store = Store(config.data_dir)
    read_id = make_read(
        store, captured=time.time() - 10 * 86400
    )  # past local retention, never synced
    syncer = Syncer(config, store, target_of(config))
    assert syncer.sync_once().failures == 1
    syncer.purge()
    assert (
        store.connect().execute("SELECT count(*) FROM reads WHERE id=?", (read_id,)).fetchone()[0]
        == 1
    )
    missing = s3_config(tmp_path / "b", rgw, "no-such-bucket-here")
    with pytest.raises(Exception, match="NoSuchBucket"):
        target_of(missing).put("reads/x", b"x")
