"""`alpr cameras status` flags a silent camera, a low battery and a collapsed read rate."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from access_helpers import Team
from gateway_helpers import load_config, write_config

from gateway.camera_health import camera_health
from gateway.store import Store


def add_events(store: Store, camera: str, statuses: list[str], start_seq: int = 1) -> None:
    db = store.connect()
    for i, status in enumerate(statuses):
        db.execute(
            "INSERT INTO events (camera, sequence, captured, received, trigger, frames, body_sha256, path,"
            " status, response) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (camera, start_seq + i, time.time(), time.time(), "radar", 1, "x", "p", status, "{}"),
        )


def test_flags(tmp_path: Path, make_team: Callable[[Path], Team]) -> None:
    config = load_config(tmp_path)
    team = make_team(write_config(tmp_path))
    store = Store(config.data_dir)
    # cam-01: healthy history, then it stops reading (a blocked lens)
    add_events(store, "cam-01", ["read"] * 40 + ["noread"] * 25)
    store.add_heartbeat(
        "cam-01", {"battery_v": 3.9, "solar_v": 5.0, "rssi": -60, "queued": 0, "dropped": 0}
    )
    # cam-02: low battery, last heard four hours ago
    store.connect().execute(
        "INSERT INTO heartbeats (camera, received, body) VALUES (?,?,?)",
        ("cam-02", time.time() - 4 * 3600, json.dumps({"battery_v": 3.2, "dropped": 4})),
    )
    health = {h["camera"]: h for h in camera_health(config, store)}
    assert health["cam-01"]["flags"] == ["read rate collapsed"]
    assert health["cam-01"]["read_rate_recent"] == 0.0
    assert set(health["cam-02"]["flags"]) == {"silent", "low battery"}
    assert health["cam-02"]["dropped"] == 4

    out = team.run("cameras", "status", "--config", str(write_config(tmp_path)), user="tech")
    assert out.returncode == 0, out.stderr
    out = out.stdout
    assert "read rate collapsed" in out and "silent, low battery" in out
