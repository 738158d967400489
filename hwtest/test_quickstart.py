"""The README's quick start, walked as a new user would, with the `alpr` command only: init a
folder, check it, serve it, provision a second camera into the running gateway (SIGHUP, no
restart), deploy it to the emulated board, pull the trigger, and find its read in `alpr reads list`.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from gateway.reload import running_pid
from gateway.store import Store
from hwtest.board import node_ready
from hwtest.conftest import ROOT, free_port, wait_for
from tools.scenes import make_scene

PLATE = "QST482"


def alpr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`alpr ARGS` as a person types it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    """What the emulated camera sees: a street scene with one plate in it."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    frame, _, _ = make_scene(random.Random(3), PLATE)
    (folder / "0.jpg").write_bytes(
        cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    )
    return folder


@pytest.fixture
def emulator(tmp_path: Path, scenes: Path) -> Iterator[tuple[Path, str]]:
    """`alpr emulator start --detach`, stopped with `alpr emulator stop` afterwards."""
    why = node_ready()
    if why:
        pytest.fail(f"the emulated board cannot start: {why}")
    state = tmp_path / "emulator" / "state.json"
    out = ok(alpr("emulator", "start", "--detach", "--images", str(scenes), "--state", str(state)))
    port = re.search(r"^serial\s+(socket://\S+)", out, re.M)
    assert port, out
    try:
        yield state, port.group(1)
    finally:
        alpr("emulator", "stop", "--state", str(state))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Holds the background `alpr gateway serve`, stopped at the end whatever happened."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_quick_start_walked_from_init_to_a_read(
    tmp_path: Path, emulator: tuple[Path, str], serve: list[subprocess.Popen[bytes]]
) -> None:
    state, serial = emulator
    county = tmp_path / "county"
    config = county / "alpr.toml"

    ok(alpr("init", str(county)))
    # the one edit this bench needs: the gateway on a free loopback port instead of 0.0.0.0:8080
    port = free_port()
    text = config.read_text()
    assert 'listen = "0.0.0.0:8080"' in text
    config.write_text(text.replace('listen = "0.0.0.0:8080"', f'listen = "127.0.0.1:{port}"'))
    ok(alpr("sites", "check", "--config", str(config)))

    log = open(county / "gateway.log", "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(config)],
        stdout=log, stderr=log, cwd=ROOT,
    )
    serve.append(proc)
    data = county / "var" / "gateway"
    assert wait_for(lambda: running_pid(data)[0] == proc.pid or proc.poll() is not None, 60)
    assert proc.poll() is None, (county / "gateway.log").read_text()
    assert running_pid(data)[0] == proc.pid  # gateway.pid written, the service lock held

    password = tmp_path / "wifi.pass"
    password.write_text("bench-pass\n")
    out = ok(alpr(
        "provision", "--camera", "cam-02", "--config", str(config), "--heading", "90",
        "--ssid", "bench-ap", "--password-file", str(password), "--burst", "1",
        "--gateway-url", f"http://127.0.0.1:{port}",
    ))
    assert f"told the gateway (pid {proc.pid}) to reload its config" in out, out
    reloaded = "config reloaded: cameras added: cam-02"
    assert wait_for(lambda: reloaded in (county / "gateway.log").read_text(), 30), (
        county / "gateway.log"
    ).read_text()

    site = county / "cam-02.site.json"
    assert json.loads(site.read_text())["camera"] == "cam-02"
    ok(alpr("emulator", "adc", "--battery", "3.95", "--solar", "5.1", "--state", str(state)))
    ok(alpr("deploy", "--port", serial, "--site-config", str(site)))
    # after the reset the board boots, sends its heartbeat and sleeps; then a vehicle passes
    woke = ""
    deadline = time.monotonic() + 60
    while "the board woke" not in woke and time.monotonic() < deadline:
        woke = ok(alpr("emulator", "trigger", "--state", str(state)))
        if "the board woke" not in woke:
            time.sleep(0.2)  # still awake from the boot
    assert "the board woke" in woke, woke

    store = Store(data)

    def event_rows() -> list[tuple[str, int]]:
        return store.connect().execute(
            "SELECT camera, frames FROM events WHERE camera = 'cam-02' AND trigger = 'radar'"
        ).fetchall()

    assert wait_for(event_rows, 60), (county / "gateway.log").read_text()

    # an investigator (the history role), created and logged in without prompts
    from tests.access_helpers import Team

    team = Team(data, tmp_path / "tokens")
    team.add("inv", "investigator")
    env = team.env("inv")

    def reads() -> list[dict[str, object]]:
        done = alpr(
            "reads", "list", "--config", str(config), "--reason", "quick start", "--json", env=env
        )
        ok(done)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    found = wait_for(lambda: [r for r in reads() if r["camera"] == "cam-02"], 90)
    assert found, (county / "gateway.log").read_text()
    assert proc.poll() is None and running_pid(data)[0] == proc.pid  # never restarted
    assert (data / "gateway.pid").exists()
