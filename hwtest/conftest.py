"""Fixtures for the hardware-in-the-loop suite: a real gateway on loopback (or the bench's LAN),
a provisioned camera, and the board (emulated unless HWTEST_PORT names a real one)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.store import Store
from hwtest.board import Board, EmulatedBoard, RealBoard, node_ready
from tools.field import deploy, provision

ROOT = Path(__file__).resolve().parent.parent
REAL_PORT = os.environ.get("HWTEST_PORT")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real board (skipped in emulation)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "hardware" in item.keywords and not REAL_PORT:
            item.add_marker(pytest.mark.skip(reason="real board only (set HWTEST_PORT)"))


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

    def start(self) -> None:
        log = open(self.config.parent / "gateway.log", "ab")  # noqa: SIM115 - child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(self.config)],
            stdout=log, stderr=log, cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.config.parent / "gateway.log").read_text()) from None
                time.sleep(0.1)
        raise RuntimeError("gateway did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def store(self) -> Store:
        return Store(self.config.parent / "data")

    def events(self, camera: str = "cam-hw") -> list[dict[str, Any]]:
        rows = self.store().connect().execute(
            "SELECT sequence, frames, trigger, battery_v, awake_ms, body_sha256 FROM events "
            "WHERE camera = ? ORDER BY sequence", (camera,)
        ).fetchall()
        keys = ("sequence", "frames", "trigger", "battery_v", "awake_ms", "body_sha256")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def heartbeats(self, camera: str = "cam-hw") -> list[dict[str, Any]]:
        rows = self.store().connect().execute(
            "SELECT body FROM heartbeats WHERE camera = ? ORDER BY id", (camera,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]


def wait_for(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    port = free_port()
    host = os.environ.get("HWTEST_GATEWAY_HOST", "127.0.0.1") if REAL_PORT else "127.0.0.1"
    config = tmp_path / "alpr.toml"
    config.write_text(
        f'# hwtest gateway\n[agency]\nname = "HIL bench"\n\n[gateway]\n'
        f'listen = "{host}:{port}"\ndata_dir = "data"\nreader_workers = 1\n\n'
        '[[sites]]\nid = "bench"\nname = "Bench"\nlat = 40.0\nlon = -88.0\n'
    )
    gw = Gateway(config, port)
    provision_camera(gw, tmp_path)  # before the start, so that no test waits for a restart
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    import cv2
    import numpy as np

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        (folder / f"{i}.jpg").write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    return folder


@pytest.fixture
def board(tmp_path: Path, images: Path) -> Iterator[Board]:
    if REAL_PORT:
        yield RealBoard(REAL_PORT)
        return
    why = node_ready()
    if why:
        pytest.fail(f"the emulated board cannot start: {why}")
    b = EmulatedBoard(images, tmp_path / "console.log")
    b.set_supply(3.95, 5.1)
    yield b
    b.close()


def gateway_url(gateway: Gateway) -> str:
    """The URL the board reaches the gateway at: HWTEST_GATEWAY_URL, else its listen address."""
    host = os.environ.get("HWTEST_GATEWAY_HOST", "127.0.0.1") if REAL_PORT else "127.0.0.1"
    return os.environ.get("HWTEST_GATEWAY_URL") or f"http://{host}:{gateway.port}"


def provision_camera(gateway: Gateway, tmp_path: Path) -> Path:
    """Provision cam-hw with `alpr provision` into the gateway's config; return its site config."""
    out = tmp_path / "cam-hw.site.json"
    password = tmp_path / "wifi.pass"
    password.write_text(os.environ.get("HWTEST_PASSWORD", "bench-pass") + "\n")
    args = provision.build_args(
        ["--camera", "cam-hw", "--config", str(gateway.config), "--out", str(out),
         "--ssid", os.environ.get("HWTEST_SSID", "bench-ap"),
         "--password-file", str(password), "--heartbeat-s", "600", "--heading", "90",
         "--gateway-url", gateway_url(gateway)]
    )
    provision.provision(args)
    return out


def site_config(gateway: Gateway, tmp_path: Path, **overrides: Any) -> Path:
    """cam-hw's site config (the gateway fixture provisions it) with `overrides` applied."""
    out = tmp_path / "cam-hw.site.json"
    if not out.exists():  # a gateway made without the fixture
        provision_camera(gateway, tmp_path)
        gateway.stop()  # it read the config before cam-hw existed
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
