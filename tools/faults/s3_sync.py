"""S3 faults during sync: the real syncer uploads reads through the fault proxy to a real Ceph RGW.

Reads keep arriving while faults are on (as at a live site), then the faults stop and the queue
drains. The bucket is then read back directly (not through the proxy): every read the gateway
marked as synced must be there with the bytes the store holds, and each key must have one version
only (the bucket is versioned, so a blind retry of a PUT that had landed shows as a second version).
"""

from __future__ import annotations

import base64
import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from cloud import bucket
from cloud.storage import S3Target, s3_client
from gateway.config import parse
from gateway.store import Store, sha256
from gateway.sync import Syncer, SyncWorker, read_prefix
from tools.faults.rgw import queue_reads
from tools.faults.row import Env, Row, Size
from tools.faults.s3proxy import FAULTS, FaultPlan, FaultProxy

# (reads, seconds of faults, share of requests faulted, seconds allowed to drain)
SIZES: dict[str, tuple[int, float, float, float]] = {
    "short": (100, 6.0, 0.3, 120.0),
    "full": (1500, 60.0, 0.3, 600.0),
}


def run(size: Size, env: Env) -> Row:
    n, fault_s, rate, drain_s = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="alpr-faults-") as tmp_name:
        tmp = Path(tmp_name)
        with env.rgw(tmp) as info:
            return _run(tmp, info, n, fault_s, rate, drain_s)


def _run(
    tmp: Path, info: dict[str, str], n: int, fault_s: float, rate: float, drain_s: float
) -> Row:
    keys = (info["access_key"], info["secret_key"])
    direct = s3_client(info["endpoint"], *keys)
    bucket_name = f"faults-{uuid.uuid4().hex[:8]}"  # a fresh bucket, also on a server used before
    bucket.init(S3Target(bucket_name, direct, f"s3://{bucket_name}"), 30, None)
    config = parse({"agency": {"name": "Faults PD"}}, tmp)
    store = Store(tmp / "gw")
    plan = FaultPlan(rate=rate, seed=1)
    with FaultProxy(info["endpoint"], plan) as proxy:
        target = S3Target(bucket_name, s3_client(proxy.url, *keys), f"s3://{bucket_name}")
        stop = threading.Event()
        worker = SyncWorker(Syncer(config, store, target), stop, idle_s=0.2, purge_every_s=1e9)
        # steady state first: one read synced without faults (the first pass also compacts the
        # search index, which a running gateway does once an hour)
        queue_reads(store, 1, seed=999)
        worker.start()
        warm_until = time.monotonic() + drain_s
        while _queued(store) and time.monotonic() < warm_until:
            time.sleep(0.05)
        waves = max(1, int(fault_s / 0.5))
        plan.on = True
        for w in range(waves):  # reads keep arriving while the faults are on
            queue_reads(store, n // waves + (w < n % waves), seed=w)
            time.sleep(fault_s / waves)
        plan.on = False
        faults_off = time.monotonic()
        queued_at_end = _queued(store)
        deadline = faults_off + drain_s
        while _queued(store) and time.monotonic() < deadline:
            time.sleep(0.1)
        recovery = time.monotonic() - faults_off
        drained = not _queued(store)
        stop.set()
        worker.join(timeout=60)
    check = verify(store, direct, bucket_name)
    notes = f"{rate:.0%} of S3 requests faulted for {fault_s:.0f} s: " + ", ".join(
        f"{k} {plan.injected[k]}" for k in FAULTS
    )
    notes += f"; {queued_at_end} of {n} reads still queued when the faults stopped"
    if not drained:
        notes += f"; queue NOT drained after {drain_s:.0f} s"
    return Row(
        name="S3 errors, slow answers, dropped connections, wrong ETag during sync",
        injected=sum(plan.injected.values()),
        acknowledged=check["acknowledged"],
        lost=check["lost"],
        duplicated=check["duplicated"],
        recovery_s=round(recovery, 1),
        notes=notes,
        detail={
            **check,
            "queued_when_faults_stopped": queued_at_end,
            "requests": plan.requests,
            "injected": dict(plan.injected),
            "reads": n,
        },
    )


def _queued(store: Store) -> int:
    row = store.connect().execute("SELECT count(*) FROM reads WHERE synced_at IS NULL").fetchone()
    return int(row[0])


def verify(store: Store, client: Any, bucket_name: str) -> dict[str, Any]:
    """Read the bucket back: every read's two objects with the store's bytes, one version a key."""
    versions: Counter[str] = Counter()
    for page in client.get_paginator("list_object_versions").paginate(
        Bucket=bucket_name, Prefix="reads/"
    ):
        for v in page.get("Versions", []):
            versions[v["Key"]] += 1
    reads = store.connect().execute("SELECT * FROM reads").fetchall()
    lost: list[str] = []
    duplicated: list[str] = []
    acknowledged = 0
    for read in reads:
        acknowledged += read["synced_at"] is not None
        prefix = read_prefix(read)
        if versions[f"{prefix}.jpg"] > 1 or versions[f"{prefix}.json"] > 1:
            duplicated.append(read["id"])
        if not _intact(client, bucket_name, prefix, read):
            lost.append(read["id"])
    index_lines: Counter[str] = Counter()
    for key in versions:
        if key.endswith(".ndjson"):
            body = client.get_object(Bucket=bucket_name, Key=key)["Body"].read()
            index_lines.update(json.loads(line)["id"] for line in body.splitlines())
    return {
        "acknowledged": acknowledged,
        "lost": len(lost),
        "duplicated": len(duplicated),
        "lost_ids": lost[:10],
        "duplicated_ids": duplicated[:10],
        "objects": sum(versions.values()),
        "keys": len(versions),
        "index_missing": sum(1 for r in reads if index_lines[r["id"]] == 0),
        "index_repeated": sum(1 for c in index_lines.values() if c > 1),
    }


def _intact(client: Any, bucket_name: str, prefix: str, read: Any) -> bool:
    from botocore.exceptions import ClientError

    try:
        frame = client.get_object(Bucket=bucket_name, Key=f"{prefix}.jpg")["Body"].read()
        meta = json.loads(
            client.get_object(Bucket=bucket_name, Key=f"{prefix}.json")["Body"].read()
        )
    except ClientError:
        return False
    return (
        sha256(frame) == read["frame_sha256"]
        and meta.get("id") == read["id"]
        and meta.get("frame_sha256") == read["frame_sha256"]
        and sha256(base64.b64decode(meta.get("plate_jpeg", ""))) == read["crop_sha256"]
    )
