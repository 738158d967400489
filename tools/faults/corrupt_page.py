"""A damaged page in the gateway's SQLite store, found at start and by the scheduled check.

Each injection backs the store up, then overwrites the first sector of a leaf page from the middle
of the events table's b-tree (tools/faults/sqlite_pages.py). Half are made while the gateway is
stopped: `alpr gateway serve` must refuse to start, naming the restore command. The other half
are made while it runs: its scheduled `integrity_check` must find the damage, `/v1/health` must
turn false and events be refused with 503 (the cameras keep them). Then `alpr gateway restore`
puts the backup back, the gateway starts again, and every event of the backup must be there with
its bytes.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gateway import protocol
from gateway.backup import backup
from gateway.store import Store, sha256
from gateway.store_health import integrity_problems
from tools.bench.gateway import bench_config
from tools.faults.kill9 import ROOT, frames, start_gateway
from tools.faults.rgw import free_port
from tools.faults.row import Env, Row, Size
from tools.faults.sqlite_pages import corrupt_page
from tools.field.camera_sim import CameraClient

SIZES = {"short": (2, 300), "full": (10, 3000)}  # injections, events in the store
CHECK_HOURS = 0.0005  # the scheduled check every 1.8 s, so that a run takes seconds


def populate(data: Path, n: int) -> dict[int, str]:
    """n events, files and rows, as ingest writes them; their SHA-256 by sequence."""
    store = Store(data)
    jpegs = frames()
    digests = {}
    for seq in range(1, n + 1):
        meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
        body = protocol.encode_event(meta, [jpegs[seq % len(jpegs)]])
        store.add_event("cam-00", seq, protocol.decode_event(body).meta, body)
        digests[seq] = sha256(body)
    store.connect().close()
    return digests


def alpr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )


def health(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{protocol.HEALTH_PATH}", timeout=5) as r:
        answer: dict[str, object] = json.loads(r.read())
    return answer


def refused_at_start(config: Path, backup_file: Path) -> float:
    """`alpr gateway serve` on the damaged store: seconds until it exits, refusing."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    took = time.monotonic() - started
    expected = f"alpr gateway restore --config {config} {backup_file}"
    if proc.returncode == 0 or expected not in proc.stderr:
        raise RuntimeError(f"gateway started on a damaged store, or said nothing of the restore:"
                           f" rc {proc.returncode}\n{proc.stderr[-2000:]}")  # fmt: skip
    return took


def found_while_running(config: Path, port: int, db: Path, rng: random.Random, log: Path) -> float:
    """Damage the store under a running gateway; seconds until /v1/health says so. An event
    sent then must be refused with 503 (kept by the camera)."""
    proc = start_gateway(config, port, log)
    try:
        page = corrupt_page(db, "events", rng)
        damaged = time.monotonic()
        deadline = damaged + 120
        while "integrity_check found" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"page {page} damaged 120 s ago and the gateway has not seen it")
            time.sleep(0.05)  # no traffic meanwhile: it is the scheduled check that finds it
        took = time.monotonic() - damaged
        if health(port)["ok"]:
            raise RuntimeError("the gateway found its store damaged but /v1/health is still ok")
        client = CameraClient(f"http://127.0.0.1:{port}", "cam-00", b"k0", timeout_s=5)
        meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
        body = protocol.encode_event(meta, [frames(1)[0]])
        status, _ = client.post(protocol.EVENT_PATH, body, 10**6, protocol.EVENT_TYPE)
        if status != 503:
            raise RuntimeError(f"an event sent to a damaged store was answered {status}, not 503")
        if proc.poll() is not None:
            raise RuntimeError("the gateway died when its store was found damaged")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    if "alpr gateway restore" not in log.read_text(errors="replace"):
        raise RuntimeError("the gateway's log does not say how to restore")
    return took


def restored(
    config: Path, port: int, backup_file: Path, digests: dict[int, str], log: Path
) -> tuple[int, float]:
    """Restore the backup and start the gateway; (events of the backup missing or changed,
    seconds from the restore command to the gateway answering)."""
    started = time.monotonic()
    done = alpr("gateway", "restore", "--config", str(config), str(backup_file))
    if done.returncode != 0:
        raise RuntimeError(f"restore failed: {done.stderr[-2000:]}")
    proc = start_gateway(config, port, log)
    try:
        if not health(port)["ok"]:
            raise RuntimeError("the restored gateway's health is not ok")
        log.write_text("")  # the next injection looks for its own log lines
        took = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    rows = (
        Store(config.parent / "data")
        .connect()
        .execute("SELECT sequence, body_sha256 FROM events WHERE camera='cam-00'")
    )
    now = {int(r[0]): str(r[1]) for r in rows}
    return sum(now.get(seq) != digest for seq, digest in digests.items()), took


def run(size: Size, env: Env) -> Row:
    injections, events = SIZES[size]
    rng = random.Random(11)
    detect_start: list[float] = []
    detect_running: list[float] = []
    recoveries: list[float] = []
    lost = checked = 0
    with tempfile.TemporaryDirectory(prefix="alpr-faults-page-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        config = bench_config(tmp, 1, port)
        config.write_text(config.read_text().replace(
            'data_dir = "data"\n', f'data_dir = "data"\nintegrity_check_hours = {CHECK_HOURS}\n'
        ))  # fmt: skip
        data, log = tmp / "data", tmp / "gateway.log"
        digests = populate(data, events)
        db = data / "gateway.db"
        started = time.monotonic()
        full_check_s = (integrity_problems(db, full=True), time.monotonic() - started)[1]
        started = time.monotonic()
        quick_check_s = (integrity_problems(db, full=False), time.monotonic() - started)[1]
        for i in range(injections):
            store = Store(data)
            backup_file = backup(store.connect(), data / "backups" / f"before-{i}.db")
            store.connect().close()
            if i % 2 == 0:
                corrupt_page(db, "events", rng)
                detect_start.append(refused_at_start(config, backup_file))
            else:
                detect_running.append(found_while_running(config, port, db, rng, log))
            missing, took = restored(config, port, backup_file, digests, log)
            lost += missing
            checked += len(digests)
            recoveries.append(took)
    return Row(
        name="corrupt SQLite page in the store (a leaf of the events table)",
        injected=injections,
        acknowledged=checked,
        lost=lost,
        duplicated=0,
        recovery_s=round(max(recoveries), 1),
        notes=(
            f"detected {len(detect_start) + len(detect_running)} of {injections}:"
            f" {len(detect_start)} at start (quick_check; refused in max {max(detect_start):.1f} s,"
            f" process start included), {len(detect_running)} while running (integrity_check every"
            f" {CHECK_HOURS * 3600:.1f} s here; found in max {max(detect_running, default=0):.1f} s,"
            f" then 503); {events} events: integrity_check {full_check_s:.2f} s, quick_check"
            f" {quick_check_s:.2f} s; recovery: restore and start to health ok"
        ),
        detail={
            "detect_at_start_s": [round(t, 2) for t in detect_start],
            "detect_running_s": [round(t, 2) for t in detect_running],
            "recoveries_s": [round(t, 2) for t in recoveries],
            "integrity_check_s": round(full_check_s, 3),
            "quick_check_s": round(quick_check_s, 3),
        },
    )
