"""A throwaway local Ceph RGW (tools/s3-local) for fault scenarios, and reads queued for sync."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud.durable import fsync_write
from gateway.store import Store, sha256

SCRIPT = Path(__file__).resolve().parents[1] / "s3-local"


class RgwUnavailable(RuntimeError):
    """tools/s3-local could not start a server here; the message has its last lines."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_rgw(data: Path) -> Iterator[dict[str, str]]:
    """Start a Ceph RGW with its data in `data`; yield its endpoint and keys; stop it after."""
    started = subprocess.run(
        [str(SCRIPT), "start", str(data), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if started.returncode != 0:
        if started.returncode != 69:  # 69: the Ceph packages are missing and cannot be installed
            raise RuntimeError(f"tools/s3-local start failed:\n{started.stderr[-2000:]}")
        raise RgwUnavailable(f"tools/s3-local start failed:\n{started.stderr[-2000:]}")
    try:
        yield {k: str(v) for k, v in json.loads((data / "s3.json").read_text()).items()}
    finally:
        subprocess.run([str(SCRIPT), "stop", str(data)], capture_output=True, timeout=300)


def queue_reads(store: Store, n: int, seed: int = 0) -> list[str]:
    """n reads as the reader leaves them (event row, best frame, plate crop), each with its own
    bytes, so that a mixed-up object shows as wrong bytes; returns their ids."""
    rng = random.Random(seed)
    now = time.time()
    db = store.connect()
    ids = []
    for i in range(n):
        rid = f"fault-{seed}-{i:05d}"
        frame = b"\xff\xd8" + rng.randbytes(rng.randint(8_000, 40_000)) + b"\xff\xd9"
        crop = b"\xff\xd8" + rng.randbytes(rng.randint(1_000, 3_000)) + b"\xff\xd9"
        frame_rel, crop_rel = f"reads/{rid}.jpg", f"reads/{rid}-plate.jpg"
        fsync_write(store.root / frame_rel, frame)
        fsync_write(store.root / crop_rel, crop)
        captured = now - rng.uniform(0, 3600)
        cur = db.execute(
            "INSERT INTO events (camera, sequence, captured, received, trigger, frames, body_sha256,"
            " path, status, response) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ("cam-01", seed * 100_000 + i, captured, captured, "radar", 1, "x", "e", "read", "{}"),
        )
        db.execute(
            "INSERT INTO reads (id, event_id, camera, site, lat, lon, heading, captured, received,"
            " text, confidence, alternates, box, frame_path, crop_path, frame_sha256, crop_sha256,"
            " bytes, read_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rid,
                cur.lastrowid,
                "cam-01",
                "s1",
                40.0,
                -88.0,
                90.0,
                captured,
                captured,
                f"F{i:05d}",
                0.9,
                "[]",
                "[0,0,1,1]",
                frame_rel,
                crop_rel,
                sha256(frame),
                sha256(crop),
                len(frame) + len(crop),
                captured,
            ),
        )
        ids.append(rid)
    return ids
