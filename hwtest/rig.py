"""The bench around the board under test, shared by the hardware-in-the-loop tests and the board rows
of `alpr faults`: a real gateway as its own process (stoppable and restartable on the same port and
data), a camera provisioned on it with `alpr provision`, and a deploy that waits for the first sleep.

No pytest here: `alpr faults` runs the same bench outside the test suite.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store import Store
from hwtest.board import Board
from tools.field import deploy, provision

ROOT = Path(__file__).resolve().parent.parent
REAL_PORT = os.environ.get("HWTEST_PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Gateway:
    """`alpr gateway serve` as a subprocess, stoppable and restartable on the same port and data."""

    config: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start the process and return at once (see wait_listening)."""
        log = open(self.config.parent / "gateway.log", "ab")  # noqa: SIM115 - child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(self.config)],
            stdout=log, stderr=log, cwd=ROOT,
        )

    def wait_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError((self.config.parent / "gateway.log").read_text()) from None
                time.sleep(0.1)
        raise RuntimeError("gateway did not start")

    def start(self) -> None:
        self.launch()
        self.wait_listening()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def store(self) -> Store:
        return Store(self.config.parent / "data")

    def events(self, camera: str = "cam-hw") -> list[dict[str, Any]]:
        rows = self.store().connect().execute(
            "SELECT sequence, frames, trigger, battery_v, awake_ms, body_sha256, captured, received"
            " FROM events WHERE camera = ? ORDER BY sequence", (camera,)
        ).fetchall()
        keys = ("sequence", "frames", "trigger", "battery_v", "awake_ms", "body_sha256",
                "captured", "received")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def heartbeats(self, camera: str = "cam-hw") -> list[dict[str, Any]]:
        rows = self.store().connect().execute(
            "SELECT body FROM heartbeats WHERE camera = ? ORDER BY id", (camera,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def log(self) -> str:
        path = self.config.parent / "gateway.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_for(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def write_gateway_config(folder: Path, port: int, host: str = "127.0.0.1") -> Path:
    """A one-site gateway config in folder, its data in folder/data."""
    config = folder / "alpr.toml"
    config.write_text(
        f'# hwtest gateway\n[agency]\nname = "HIL bench"\n\n[gateway]\n'
        f'listen = "{host}:{port}"\ndata_dir = "data"\nreader_workers = 1\n\n'
        '[[sites]]\nid = "bench"\nname = "Bench"\nlat = 40.0\nlon = -88.0\n'
    )
    return config


def write_images(
    folder: Path, n: int = 3, seed: int = 5, shape: tuple[int, int] = (240, 320)
) -> Path:
    """Distinct small JPEGs (rows, columns) for the fake camera sensor."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
        (folder / f"{i}.jpg").write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    return folder


def gateway_url(gateway: Gateway) -> str:
    """The URL the board reaches the gateway at: HWTEST_GATEWAY_URL, else its listen address."""
    host = os.environ.get("HWTEST_GATEWAY_HOST", "127.0.0.1") if REAL_PORT else "127.0.0.1"
    return os.environ.get("HWTEST_GATEWAY_URL") or f"http://{host}:{gateway.port}"


def site_config(gateway: Gateway, tmp_path: Path, **overrides: Any) -> Path:
    """Provision cam-hw with `alpr provision` (once per gateway) and return its site config."""
    out = tmp_path / "cam-hw.site.json"
    if not out.exists():
        password = tmp_path / "wifi.pass"
        password.write_text(os.environ.get("HWTEST_PASSWORD", "bench-pass") + "\n")
        args = provision.build_args(
            ["--camera", "cam-hw", "--config", str(gateway.config), "--out", str(out),
             "--ssid", os.environ.get("HWTEST_SSID", "bench-ap"),
             "--password-file", str(password), "--heartbeat-s", "600", "--heading", "90",
             "--gateway-url", gateway_url(gateway)]
        )
        provision.provision(args)
        if gateway.proc is not None:  # it read the config before cam-hw existed
            gateway.stop()
            gateway.start()
    conf = json.loads(out.read_text())
    conf.update(overrides)
    path = tmp_path / "site-deploy.json"
    path.write_text(json.dumps(conf))
    return path


def deploy_to(board: Board, site: Path) -> float:
    seconds = deploy.deploy(board.port, site)
    board.wait_asleep()  # the boot after the reset: heartbeat, then deep sleep
    return seconds
