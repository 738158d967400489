"""Hardware in the loop: the same tests on the emulated board and on a real one (HWTEST_PORT)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gateway import protocol
from hwtest.board import Board
from hwtest.conftest import ROOT, Gateway, deploy_to, site_config, wait_for


def test_deploy_boot_and_heartbeat(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    deploy_to(board, site_config(gateway, tmp_path))
    listing = board.mpremote("fs", "ls", ":")
    for name in ("main.py", "app.mpy", "proto.mpy", "hw.mpy", "site.json"):
        assert name in listing
    assert "app.py" not in listing  # the deployed form is bytecode
    board.wait_asleep()
    beats = wait_for(gateway.heartbeats)
    assert beats, "no heartbeat after boot"
    assert beats[-1]["firmware"] == "1.0.0"
    assert beats[-1]["error"] is None
    assert beats[-1]["battery_v"] == pytest.approx(3.95, abs=0.05)


def test_trigger_delivers_signed_burst(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    deploy_to(board, site_config(gateway, tmp_path, burst=3))
    assert board.trigger(), "the trigger pin did not wake the board"
    board.wait_asleep()
    events = wait_for(gateway.events)
    assert [e["sequence"] for e in events] == [1]
    assert events[0]["frames"] == 3 and events[0]["trigger"] == "radar"
    assert events[0]["battery_v"] == pytest.approx(3.95, abs=0.05)
    assert events[0]["awake_ms"] > 0
    # the gateway stored it, so the signature checked out with the camera's own secret; and the
    # body the gateway kept is a protocol body with the frames the camera served
    body_path = gateway.store().connect().execute("SELECT path FROM events").fetchone()[0]
    body = (gateway.store().root / body_path).read_bytes() if not Path(body_path).is_absolute() \
        else Path(body_path).read_bytes()
    assert hashlib.sha256(body).hexdigest() == events[0]["body_sha256"]
    assert len(protocol.decode_event(body).frames) == 3


def test_a_burst_over_the_gateways_limit_keeps_the_frames_that_fit(
    board: Board, gateway: Gateway, tmp_path: Path, images: Path
) -> None:
    """The gateway refuses an oversized body unread and unsigned, which no camera may trust: so the
    board never sends one; it keeps the first frames that fit and logs the rest."""
    sizes = [p.stat().st_size for p in images.glob("*.jpg")]
    limit = 1028 + max(sizes) + min(sizes) // 2  # one frame fits, never two
    deploy_to(board, site_config(gateway, tmp_path, burst=3, max_event_bytes=limit))
    assert board.trigger()
    board.wait_asleep()
    events = wait_for(gateway.events)
    assert [(e["sequence"], e["frames"]) for e in events] == [(1, 1)]
    assert "burst over max_event_bytes: 1 of 3 frames kept" in board.mpremote(
        "fs", "cat", ":errors.log"
    )


def test_gateway_down_queues_then_delivers_once(
    board: Board, gateway: Gateway, tmp_path: Path
) -> None:
    deploy_to(board, site_config(gateway, tmp_path, burst=1))
    gateway.stop()
    for _ in range(2):
        assert board.trigger()
        board.wait_asleep()
    queued = board.mpremote("fs", "ls", ":q")
    assert queued.count(".evt") == 2, queued
    board.mpremote("reset")
    board.wait_asleep()
    gateway.start()
    assert board.trigger()
    board.wait_asleep()
    assert [e["sequence"] for e in wait_for(lambda: len(gateway.events()) == 3 and gateway.events())] == [1, 2, 3]
    assert board.timer()  # a later wake sends nothing again
    board.wait_asleep()
    assert [e["sequence"] for e in gateway.events()] == [1, 2, 3]
    assert wait_for(lambda: gateway.heartbeats() and gateway.heartbeats()[-1]["queued"] == 0)


def test_low_battery_gives_heartbeats_only(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    board.set_supply(3.40, 0.2)  # under low_v 3.45, over critical_v 3.3
    deploy_to(board, site_config(gateway, tmp_path))
    assert not board.trigger(), "a low battery must not arm the trigger wake"
    assert board.timer()
    board.wait_asleep()
    beats = wait_for(lambda: len(gateway.heartbeats()) >= 2 and gateway.heartbeats())
    assert all(b["battery_v"] == pytest.approx(3.40, abs=0.05) for b in beats)
    assert gateway.events() == []


def test_corrupt_or_mistyped_config_gives_safe_mode(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    site = site_config(gateway, tmp_path)
    deploy_to(board, site)
    bad = tmp_path / "site.json"
    bad.write_text('{"camera": "cam-hw", "gateway": ')
    board.mpremote("fs", "cp", str(bad), ":site.json", "+", "reset")
    board.wait_asleep()
    beat = wait_for(lambda: [b for b in gateway.heartbeats() if b["error"]])
    assert beat and "site.json: not valid JSON" in beat[-1]["error"]
    assert not board.trigger(), "safe mode must not capture"
    errors = board.mpremote("fs", "cat", ":errors.log")
    assert "safe mode" in errors
    # valid JSON with a value of the wrong type: reported the same way, naming the key
    conf = json.loads(site.read_text())
    conf["thresholds"]["low_v"] = "3.45"
    bad.write_text(json.dumps(conf))
    board.mpremote("fs", "cp", str(bad), ":site.json", "+", "reset")
    board.wait_asleep()
    beat = wait_for(lambda: [b for b in gateway.heartbeats() if "low_v" in str(b["error"])])
    assert beat and "thresholds.low_v: must be a number" in beat[-1]["error"]


def test_full_queue_drops_oldest_and_counts(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    deploy_to(board, site_config(gateway, tmp_path, burst=1, queue_max=2))
    gateway.stop()
    for _ in range(4):
        assert board.trigger()
        board.wait_asleep()
    gateway.start()
    assert board.timer()
    board.wait_asleep()
    assert [e["sequence"] for e in wait_for(gateway.events)] == [3, 4]
    beats = wait_for(lambda: [b for b in gateway.heartbeats() if b["dropped"]])
    assert beats and beats[-1]["dropped"] == 2
    assert beats[-1]["queued"] == 0


@pytest.mark.hardware
def test_real_camera_gives_full_size_jpegs(board: Board) -> None:
    out = board.exec("import cam, cfg; f = cam.burst(cfg.load()); print(len(f), min(map(len, f)))")
    n, smallest = map(int, out.split())
    assert n >= 1 and smallest > 5000


@pytest.mark.hardware
def test_adc_reads_the_bench_supply(board: Board) -> None:
    board.set_supply(3.70, 5.0)
    out = board.exec("import hw, cfg; a = cfg.load()['adc']; print(hw.volts(a['battery_pin'], a['battery_divider']))")
    assert float(out) == pytest.approx(3.70, abs=0.08)


@pytest.mark.hardware
def test_sleep_current(board: Board) -> None:
    """Deep-sleep current from the bench's meter (HWTEST_CURRENT_CMD prints milliamps), against the
    figure the power estimate is built on."""
    from tools.field import power

    board.wait_asleep()
    readings = board.current_ma(samples=5)
    measured = sorted(readings)[len(readings) // 2]
    print(f"deep sleep: {measured:.2f} mA (readings {readings})")
    assert measured <= power.CURRENT_MA["deep_sleep"] * 1.25, (
        f"{measured:.2f} mA asleep; the power estimate assumes {power.CURRENT_MA['deep_sleep']} mA"
    )


def test_site_config_from_provision_is_what_the_firmware_accepts(gateway: Gateway, tmp_path: Path) -> None:
    """The firmware's own cfg.check (firmware/cfg.py under CPython) on what `alpr provision` wrote."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fw_cfg", ROOT / "firmware" / "cfg.py")
    assert spec and spec.loader
    fw_cfg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fw_cfg)
    written = json.loads(site_config(gateway, tmp_path).read_text())
    checked = fw_cfg.check(json.loads(json.dumps(written)))
    assert {k: checked[k] for k in written} == written  # nothing the firmware would change or refuse
    assert checked["camera"] == "cam-hw" and len(checked["secret"]) == 64
