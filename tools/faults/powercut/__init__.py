"""Power cuts under the gateway while 4 cameras send captures over HTTP.

kill -9 alone cannot lose a write that the kernel already has, synced or not. Here the gateway runs
on a file layer that remembers only what it synced (shim.c, loaded with LD_PRELOAD); at a random
moment it is killed (the cut), its data folder is rebuilt from what was synced (disk.py), and it is
started again on that. The cameras behave as in the kill -9 row: a capture is resent until
acknowledged. At the end, after one more cut once the cameras have stopped, every capture the
cameras saw acknowledged must be in the store with its bytes, and each only once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from gateway.store import Store
from tools.bench.gateway import bench_config
from tools.faults.kill9 import CAMERAS, Camera, check, frames, start_gateway
from tools.faults.powercut.disk import NoCompiler, build_shim, rebuild, shim_env, snapshot
from tools.faults.rgw import free_port
from tools.faults.row import Env, Row, Size

__all__ = ["NoCompiler", "cuts", "run"]
SIZES = {"short": 2, "full": 20}  # cuts while the cameras send


def run(size: Size, env: Env) -> Row:
    return cuts(SIZES[size])


def cut(proc: subprocess.Popen[bytes]) -> None:
    """Power off: the process dies where it is, and only the synced state remains."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def cuts(n: int, ignore: str = "", seed: int = 11) -> Row:
    """n cuts at random moments, then one after the cameras stop, then count.

    ignore (tests only): syncs of data paths matching this fnmatch pattern are not recorded, as
    if the gateway never made them; the row must then report losses.
    """
    lib = build_shim()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="alpr-faults-powercut-") as tmp_name:
        tmp = Path(tmp_name)
        data, shadow = tmp / "data", tmp / "shadow"
        data.mkdir()
        shadow.mkdir()
        port = free_port()
        config = bench_config(tmp, CAMERAS, port)
        log = tmp / "gateway.log"
        genv = shim_env(lib, data, shadow, ignore)
        stop = threading.Event()
        cameras = [Camera(i, port, stop, frames()) for i in range(CAMERAS)]
        proc = start_gateway(config, port, log, genv)
        for c in cameras:
            c.start()
        recoveries: list[float] = []
        files_gone = bytes_gone = 0

        def power_cycle() -> None:
            nonlocal files_gone, bytes_gone
            cut(proc)
            took = rebuild(data, shadow)
            files_gone += took["files_gone"]
            bytes_gone += took["bytes_gone"]
            snapshot(lib, data, shadow)

        for _ in range(n):
            time.sleep(rng.uniform(0.5, 2.5))
            power_cycle()
            restarted = time.monotonic()
            proc = start_gateway(config, port, log, genv)
            deadline = restarted + 120
            while not any(t > restarted for c in cameras for t in c.answered_at[-1:]):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"no capture acknowledged 120 s after a restart:\n{log.read_text()[-2000:]}"
                    )
                time.sleep(0.02)
            recoveries.append(
                min(t for c in cameras for t in c.answered_at if t > restarted) - restarted
            )
        deadline = time.monotonic() + 120
        while not any(c.acked for c in cameras):  # something to lose at the last cut
            if time.monotonic() > deadline:
                raise RuntimeError(f"no capture acknowledged in 120 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.02)
        stop.set()
        for c in cameras:
            c.join(timeout=60)
        power_cycle()
        lost, duplicated, acked = check(Store(data), cameras)
    return Row(
        name=f"power cut (unsynced writes dropped) at random points, {CAMERAS} cameras sending",
        injected=n + 1,
        acknowledged=acked,
        lost=lost,
        duplicated=duplicated,
        recovery_s=round(max(recoveries, default=0.0), 1),
        notes=(
            f"{n} cuts while sending and 1 after; the cuts took {files_gone} files and"
            f" {bytes_gone} bytes never synced; restart to first acknowledged capture: median"
            f" {sorted(recoveries)[len(recoveries) // 2] if recoveries else 0:.1f} s (process"
            " start included)"
        ),
        detail={
            "recoveries_s": [round(r, 2) for r in recoveries],
            "files_gone": files_gone,
            "bytes_gone": bytes_gone,
            "ignored_syncs": ignore,
        },
    )
