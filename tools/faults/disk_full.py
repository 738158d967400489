"""The gateway's disk fills up while 4 cameras send captures over HTTP.

The data folder is a small tmpfs mounted for the run (root can mount one), so the disk really
fills: first to below the `min_free_mb` reserve (ingest must answer 507 before writing), then, with
a gateway started without a reserve, to the last byte (the event file write or the SQLite commit
fails with ENOSPC / SQLITE_FULL and must still be answered 507). Where no tmpfs can be mounted, the
gateway runs in this process and the full disk is injected: statvfs reports no free space and the
event file write fails with ENOSPC; the row says so.

At the end every acknowledged capture must be in the store once with its bytes, the gateway
process must have kept running throughout, each episode must have raised a disk-full alert, and
the captures the cameras held back must have arrived once space returned.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gateway.store import Store
from tools.bench.gateway import bench_config
from tools.faults.kill9 import Camera, check, frames, start_gateway
from tools.faults.rgw import free_port
from tools.faults.row import Env, Row, Size

log = logging.getLogger("alpr.faults")
CAMERAS = 4
TMPFS_MB = 1024  # room for the captures 4 cameras send over the full run, beside the fillers
RESERVE_MB = 16
SIZES = {"short": (1, 0.5), "full": (5, 3.0)}  # faults per phase, seconds each fault is held
CHUNK = 1024 * 1024


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[bool]:
    """Mount a tmpfs of size_mb at path; yields False (and mounts nothing) where that fails."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0750", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("no tmpfs for the disk-full row (%s): injecting ENOSPC instead", exc)
        yield False
        return
    if done.returncode != 0:
        log.warning("no tmpfs for the disk-full row (%s): injecting ENOSPC", done.stderr.strip())
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=60, check=False)


def fill(folder: Path, name: str, leave: int) -> None:
    """Write a filler file until at most `leave` bytes are free (0: until ENOSPC)."""
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        chunk = CHUNK
        while chunk >= 512:
            st = os.statvfs(folder)
            free = st.f_bavail * st.f_frsize
            if leave and free <= leave:
                break
            try:
                os.write(fd, b"\0" * min(chunk, max(512, free - leave) if leave else chunk))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    finally:
        os.close(fd)


class Injected:
    """The fallback: a gateway in this process whose disk reads as full while `full` is set."""

    def __init__(self) -> None:
        self.full = threading.Event()

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        import gateway.store as store_module
        import gateway.store_health as health_module

        real_free, real_write = health_module.free_bytes, store_module.fsync_write

        def free_bytes(path: Path) -> int:
            return 0 if self.full.is_set() else real_free(path)

        def fsync_write(path: Path, data: bytes) -> None:
            if self.full.is_set():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            real_write(path, data)

        health_module.free_bytes = free_bytes
        store_module.fsync_write = fsync_write
        try:
            yield
        finally:
            health_module.free_bytes = real_free
            store_module.fsync_write = real_write


def config_with(tmp: Path, port: int, reserve_mb: float) -> Path:
    config = bench_config(tmp, CAMERAS, port)
    text = config.read_text().replace(
        'data_dir = "data"\n', f'data_dir = "data"\nmin_free_mb = {reserve_mb}\n'
    )
    config.write_text(text)
    return config


def first_after(times: Callable[[], list[float]], after: float, timeout: float = 120) -> float:
    """Seconds from `after` to the first time in times() past it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        later = [t for t in times() if t > after]
        if later:
            return min(later) - after
        time.sleep(0.02)
    raise RuntimeError(f"nothing happened {timeout} s after the disk filled or emptied")


def episodes(
    data: Path,
    cameras: list[Camera],
    faults: int,
    hold_s: float,
    full: Callable[[], None],
    empty: Callable[[], None],
    alive: Callable[[], bool],
) -> tuple[list[float], list[float]]:
    """Fill and empty the disk `faults` times; (seconds to the first 507, seconds from freeing
    space to the first capture acknowledged again) for each."""
    refused, recovered = [], []
    for _ in range(faults):
        time.sleep(hold_s)  # captures go in before each fault
        filled = time.monotonic()
        full()
        refused.append(first_after(lambda: [t for c in cameras for t in c.retried_at], filled))
        time.sleep(hold_s)
        if not alive():
            raise RuntimeError("the gateway died while its disk was full")
        freed = time.monotonic()
        empty()
        recovered.append(first_after(lambda: [t for c in cameras for t in c.answered_at], freed))
    return refused, recovered


def notices(store: Store) -> dict[str, int]:
    """Disk alerts in the outbox by type, and how many were delivered."""
    out: dict[str, int] = {}
    for r in store.connect().execute("SELECT payload, delivered_at FROM alerts"):
        kind = json.loads(r[0]).get("type", "hit")
        out[kind] = out.get(kind, 0) + 1
        out["delivered"] = out.get("delivered", 0) + (r[1] is not None)
    return out


def run(size: Size, env: Env) -> Row:
    faults, hold_s = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="alpr-faults-disk-") as tmp_name:
        tmp = Path(tmp_name)
        with tmpfs(tmp / "data", TMPFS_MB) as mounted:
            return on_tmpfs(tmp, faults, hold_s) if mounted else injected(tmp, faults, hold_s)


def stop_cameras(cameras: list[Camera], stop: threading.Event) -> None:
    stop.set()
    for c in cameras:
        c.join(timeout=120)


def on_tmpfs(tmp: Path, faults: int, hold_s: float) -> Row:
    """Phase 1: filled below the reserve; phase 2: a gateway without a reserve, filled to the end."""
    data, port = tmp / "data", free_port()
    stop = threading.Event()
    cameras = [Camera(i, port, stop, frames()) for i in range(CAMERAS)]
    refused: list[float] = []
    recovered: list[float] = []
    log_path = tmp / "gateway.log"
    for phase, reserve in (("reserve", RESERVE_MB), ("last byte", 0)):
        config = config_with(tmp, port, reserve)
        proc = start_gateway(config, port, log_path)
        if phase == "reserve":
            for c in cameras:
                c.start()

        def empty() -> None:
            for f in data.glob("filler-*"):
                f.unlink()

        leave = int(reserve * 1024 * 1024 / 2)
        got = episodes(
            data,
            cameras,
            faults,
            hold_s,
            lambda: fill(data, f"filler-{time.monotonic_ns()}", leave),  # noqa: B023
            empty,
            lambda: proc.poll() is None,  # noqa: B023
        )
        refused += got[0]
        recovered += got[1]
        if phase == "last byte":
            stop_cameras(cameras, stop)  # each sends what it still holds first
        wait_for_notices(Store(data), faults * (1 if phase == "reserve" else 2))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    hard = log_path.read_text(errors="replace").count("507 gateway disk full (")
    how = f"tmpfs, filled for real ({hard} writes failed with ENOSPC/SQLITE_FULL, answered 507)"
    return row(Store(data), cameras, refused, recovered, faults * 2, how)


def wait_for_notices(store: Store, episodes: int, timeout: float = 30) -> None:
    """Until every episode's disk-full and disk-ok alerts are in the outbox (one that met a full
    disk is queued by the gateway's next look at it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = notices(store)
        if min(got.get("disk-full", 0), got.get("disk-ok", 0)) >= episodes:
            return
        time.sleep(0.1)


def injected(tmp: Path, faults: int, hold_s: float) -> Row:
    from gateway.config import load
    from gateway.service import Gateway

    port = free_port()
    config = load(config_with(tmp, port, RESERVE_MB))
    fault = Injected()
    stop = threading.Event()
    cameras = [Camera(i, port, stop, frames()) for i in range(CAMERAS)]
    with fault.patched():
        gateway = Gateway(config)
        gateway.start()
        try:
            for c in cameras:
                c.start()
            refused, recovered = episodes(
                config.data_dir, cameras, faults * 2, hold_s, fault.full.set, fault.full.clear,
                lambda: True,  # in this process: it cannot die without the row
            )  # fmt: skip
            stop_cameras(cameras, stop)
            wait_for_notices(Store(config.data_dir), faults * 2)
        finally:
            gateway.shutdown()
    return row(
        Store(config.data_dir), cameras, refused, recovered, faults * 2,
        "no tmpfs could be mounted: ENOSPC injected (statvfs reads 0 free, event writes fail)",
    )  # fmt: skip


def row(
    store: Store,
    cameras: list[Camera],
    refused: list[float],
    recovered: list[float],
    injected_n: int,
    how: str,
) -> Row:
    lost, duplicated, acked = check(store, cameras)
    alerts = notices(store)
    answers: dict[int, int] = {}
    for c in cameras:
        for status, n in c.retried.items():
            answers[status] = answers.get(status, 0) + n
    rejected = sum(sum(c.rejected.values()) for c in cameras)
    if set(answers) - {507}:  # a camera retries any 5xx, but a full disk is to be answered 507
        raise RuntimeError(f"the gateway answered {answers} while its disk was full, not only 507")
    detail: dict[str, Any] = {
        "refused_after_s": [round(r, 2) for r in refused],
        "recoveries_s": [round(r, 2) for r in recovered],
        "answers_5xx": answers,
        "rejected_4xx": rejected,
        "alerts": alerts,
        "how": how,
    }
    return Row(
        name=f"disk full under the gateway's data folder, {CAMERAS} cameras sending",
        injected=injected_n,
        acknowledged=acked,
        lost=lost + rejected,  # a 4xx would make a camera drop its capture
        duplicated=duplicated,
        recovery_s=round(max(recovered), 1),
        notes=(
            f"{how}; half below the {RESERVE_MB} MB reserve, half to the last byte with no reserve;"
            f" {sum(answers.values())} answers {'/'.join(map(str, sorted(answers)))} (captures kept),"
            f" {rejected} refused for good; disk-full alerts {alerts.get('disk-full', 0)},"
            f" disk-ok {alerts.get('disk-ok', 0)}; first 507 after max {max(refused):.2f} s"
        ),
        detail=detail,
    )
