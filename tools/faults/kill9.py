"""kill -9 of the gateway at random points while 4 cameras send captures over HTTP.

The gateway runs as its own process (`alpr gateway serve`); each camera is a thread that behaves as
the firmware does: it keeps a capture until the gateway acknowledges it and, when the connection
fails, sends the same sequence number and body again once the gateway is back. At the end the store
must hold every acknowledged capture with its bytes, and each capture once.
"""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from gateway import protocol
from gateway.store import Store, sha256
from tools.bench.gateway import bench_config
from tools.faults.rgw import free_port
from tools.faults.row import Env, Row, Size
from tools.field.camera_sim import CameraClient

ROOT = Path(__file__).resolve().parents[2]
CAMERAS = 4
SIZES = {"short": 2, "full": 50}  # kills


def frames(n: int = 8) -> list[bytes]:
    """Small distinct JPEGs; the reader finds no plate in them, which is quick."""
    rng = np.random.default_rng(0)
    return [
        cv2.imencode(".jpg", rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))[1].tobytes()
        for _ in range(n)
    ]


def start_gateway(
    config: Path, port: int, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:  # a file, not a pipe: a full pipe would block the gateway
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(config)],
            stdout=out,
            stderr=out,
            cwd=ROOT,
            env=env,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("gateway did not start in 120 s")


class Camera(threading.Thread):
    """Sends captures one after the other; a capture is resent as it was until acknowledged."""

    def __init__(self, index: int, port: int, stop: threading.Event, jpegs: list[bytes]) -> None:
        super().__init__(name=f"camera-{index}", daemon=True)
        self.camera = f"cam-{index:02d}"
        self.client = CameraClient(
            f"http://127.0.0.1:{port}", self.camera, f"k{index}".encode(), timeout_s=5
        )
        self.stop, self.jpegs = stop, jpegs
        self.acked: dict[int, str] = {}  # sequence -> SHA-256 of the body
        self.rejected: Counter[int] = Counter()  # status -> count
        self.answered_at: list[float] = []  # monotonic times of acknowledgements
        self.retried: Counter[int] = Counter()  # 5xx status -> count (the capture is kept)
        self.retried_at: list[float] = []  # monotonic times of 5xx answers

    def run(self) -> None:
        seq, body = 0, b""
        while True:
            if not body:
                if self.stop.is_set():
                    return
                seq += 1
                meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5}
                body = protocol.encode_event(meta, [self.jpegs[seq % len(self.jpegs)]])
            try:
                status, _ = self.client.post(protocol.EVENT_PATH, body, seq, protocol.EVENT_TYPE)
            except (OSError, http.client.HTTPException, ValueError):
                self.client.close()
                time.sleep(0.05)  # the gateway is down: keep the capture, try again
                continue
            if status in (200, 201):
                self.acked[seq] = sha256(body)
                self.answered_at.append(time.monotonic())
                body = b""
            elif status >= 500:
                self.retried[status] += 1
                self.retried_at.append(time.monotonic())
                time.sleep(0.05)
            else:
                self.rejected[status] += 1
                body = b""


def run(size: Size, env: Env) -> Row:
    kills = SIZES[size]
    rng = random.Random(9)
    with tempfile.TemporaryDirectory(prefix="alpr-faults-kill-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        config = bench_config(tmp, CAMERAS, port)
        log = tmp / "gateway.log"
        stop = threading.Event()
        cameras = [Camera(i, port, stop, frames()) for i in range(CAMERAS)]
        proc = start_gateway(config, port, log)
        for c in cameras:
            c.start()
        recoveries: list[float] = []
        for _ in range(kills):
            time.sleep(rng.uniform(0.5, 2.5))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = time.monotonic()
            proc = start_gateway(config, port, log)
            deadline = killed + 120
            while not any(t > killed for c in cameras for t in c.answered_at[-1:]):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no capture acknowledged 120 s after a restart:\n{log}")
                time.sleep(0.02)  # back when a camera's capture is acknowledged again
            recoveries.append(min(t for c in cameras for t in c.answered_at if t > killed) - killed)
        stop.set()
        for c in cameras:
            c.join(timeout=60)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        lost, duplicated, acked = check(Store(tmp / "data"), cameras)
        rejected = sum(sum(c.rejected.values()) for c in cameras)
    return Row(
        name=f"kill -9 of the gateway at random points, {CAMERAS} cameras sending",
        injected=kills,
        acknowledged=acked,
        lost=lost,
        duplicated=duplicated,
        recovery_s=round(max(recoveries), 1),
        notes=(
            f"restart to first acknowledged capture: median {sorted(recoveries)[len(recoveries) // 2]:.1f} s,"
            f" max {max(recoveries):.1f} s (process start included); {rejected} captures refused"
        ),
        detail={"recoveries_s": [round(r, 2) for r in recoveries], "rejected": rejected},
    )


def check(store: Store, cameras: list[Camera]) -> tuple[int, int, int]:
    """(lost, duplicated, acknowledged): each acknowledged capture stored once, with its bytes."""
    db = store.connect()
    lost = acked = 0
    for c in cameras:
        for seq, digest in c.acked.items():
            acked += 1
            row = db.execute(
                "SELECT body_sha256, path FROM events WHERE camera=? AND sequence=?",
                (c.camera, seq),
            ).fetchone()
            if row is None or row["body_sha256"] != digest:
                lost += 1
                continue
            try:
                intact = sha256(store.event_body(row["path"])) == digest
            except OSError:
                intact = False
            lost += not intact
    copies = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM events GROUP BY camera, body_sha256 HAVING count(*) > 1)"
    ).fetchone()[0]
    return lost, int(copies), acked
