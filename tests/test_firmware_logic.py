"""The firmware's own modules under CPython: the same code that runs on the board and in the
emulator, checked against the gateway's reference implementation and a real ingest server."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_helpers import SECRET, jpeg, load_config, serve_ingest

from gateway import protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware"))
import cfg
import elog
import evq
import proto


@pytest.mark.parametrize("key", [b"k", b"s3cret-cam-01", b"x" * 64, b"y" * 100])
def test_hand_made_hmac_matches_the_library(key: bytes) -> None:
    msg = b"POST /v1/events\ncam-01\n1795330000\n42\nabc"
    assert proto.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_signature_and_body_match_the_gateway() -> None:
    frames = [jpeg(1), jpeg(2)]
    meta = {"captured": 1795330000.25, "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
    body = proto.encode_event(dict(meta), frames)
    assert protocol.decode_event(body).frames == frames
    assert proto.sign(b"k", "POST", "/v1/events", "cam-01", 17, 3, body) == protocol.sign(
        b"k", "POST", "/v1/events", "cam-01", 17, 3, body
    )


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[tuple[dict[str, object], object]]:
    with serve_ingest(load_config(tmp_path)) as (url, store):
        conf = {"camera": "cam-01", "secret": SECRET, "gateway": url, "http_timeout_s": 5}
        yield conf, store


def test_post_reaches_a_real_gateway_once(ingest: tuple[dict[str, object], object]) -> None:
    conf, _ = ingest
    meta = {"captured": time.time(), "trigger": "beam", "battery_v": 3.9, "solar_v": 5.0}
    body = proto.encode_event(meta, [jpeg(3)])
    first = proto.post(conf, proto.EVENT_PATH, body, 7, proto.EVENT_TYPE, int(time.time()))
    again = proto.post(conf, proto.EVENT_PATH, body, 7, proto.EVENT_TYPE, int(time.time()))
    assert first[0] == 201 and again[0] == 200 and again[1] == first[1]
    assert first[2] and again[2], "the gateway's answers verify with the camera's secret"
    bad = dict(conf, secret="wrong")
    status, _, verified = proto.post(bad, proto.EVENT_PATH, body, 8, proto.EVENT_TYPE, int(time.time()))
    assert status == 401 and not verified  # not authenticated: not signed


def test_stale_refusal_is_signed_and_carries_the_time(ingest: tuple[dict[str, object], object]) -> None:
    """A camera whose RTC lost power can only set its clock from a signed stale refusal."""
    conf, _ = ingest
    status, answer, verified = proto.post(conf, proto.HEARTBEAT_PATH, b"{}", 0, "application/json", 946684800)
    assert status == 401 and "stale" in answer["error"]
    assert verified and abs(answer["time"] - time.time()) < 5


@pytest.mark.parametrize("status,seq", [(200, 0), (201, 42), (401, 7)])
def test_response_signature_matches_the_gateway(status: int, seq: int) -> None:
    body = b'{"time": 1795330000.5}'
    mine = proto.sign_response(b"k", status, "cam-01", seq, body)
    assert mine == protocol.sign_response(b"k", status, "cam-01", seq, body)
    assert proto.same(mine, mine) and not proto.same(mine, mine[:-1] + "0")
    assert mine != proto.sign_response(b"k", status, "cam-01", seq + 1, body)


def test_queue_is_bounded_and_drops_the_oldest(tmp_path: Path) -> None:
    d = str(tmp_path / "q")
    dropped = sum(evq.put(seq, b"event %d" % seq, limit=3, d=d) for seq in range(1, 6))
    assert dropped == 2
    assert evq.seqs(d) == [3, 4, 5]
    assert evq.get(4, d) == b"event 4"
    evq.remove(4, d)
    assert evq.seqs(d) == [3, 5]


def test_restamp_moves_only_the_capture_time(tmp_path: Path) -> None:
    """A queued event captured under a clock found 3 h off keeps its frames and other metadata."""
    d = str(tmp_path / "q")
    frame = jpeg()
    meta = {"captured": 1_700_000_000.5, "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
    evq.put(7, proto.encode_event(dict(meta), [frame]), limit=5, d=d)
    evq.restamp(7, -3 * 3600, d)
    decoded = protocol.decode_event(evq.get(7, d))
    assert decoded.meta["captured"] == meta["captured"] - 3 * 3600
    assert decoded.meta["trigger"] == "radar" and decoded.frames == [frame]
    assert evq.seqs(d) == [7] and not [p for p in Path(d).iterdir() if p.suffix == ".tmp"]


def test_error_ring_keeps_the_last_entries(tmp_path: Path) -> None:
    path = str(tmp_path / "errors.log")
    for i in range(12):
        try:
            raise ValueError(f"fault {i}")
        except ValueError as e:
            elog.record(e, when=i, path=path, keep=4)
    entries = elog.entries(path)
    assert len(entries) == 4
    assert "fault 11" in entries[-1] and "fault 8" in entries[0]


def good() -> dict[str, object]:
    return {"camera": "c", "gateway": "http://10.0.0.1:8080", "secret": "s", "wifi": {"ssid": "ap"}}


def test_config_defaults_and_errors(tmp_path: Path) -> None:
    conf = cfg.check(good())
    assert conf["burst"] == 3 and conf["thresholds"]["critical_v"] == 3.3
    for change, message in [
        ({"gateway": "https://x"}, "gateway"),
        ({"burst": 40}, "burst"),
        ({"trigger": {"pin": 5}}, "RTC-capable"),
        ({"thresholds": {"low_v": 3.0, "critical_v": 3.3}}, "thresholds"),
        ({"wifi": {}}, "wifi.ssid"),
    ]:
        with pytest.raises(cfg.ConfigError, match=message):
            cfg.check({**good(), **change})
    bad = tmp_path / "site.json"
    bad.write_text("{not json")
    with pytest.raises(cfg.ConfigError, match="not valid JSON"):
        cfg.load(str(bad))
    with pytest.raises(cfg.ConfigError, match="missing"):
        cfg.load(str(tmp_path / "absent.json"))
    (tmp_path / "ok.json").write_text(json.dumps(good()))
    assert cfg.load(str(tmp_path / "ok.json"))["camera"] == "c"


@pytest.mark.parametrize(
    "change,message",
    [
        ({"burst": "3"}, "burst: must be an integer"),
        ({"burst": 2.5}, "burst: must be an integer"),
        ({"heartbeat_s": True}, "heartbeat_s"),
        ({"http_timeout_s": "8"}, "http_timeout_s: must be a number"),
        ({"thresholds": {"low_v": "3.45"}}, "thresholds.low_v: must be a number"),
        ({"thresholds": [3.3, 3.45]}, "thresholds: must be an object"),
        ({"adc": {"battery_divider": "2"}}, "adc.battery_divider: must be a number"),
        ({"adc": {"solar_pin": None}}, "adc.solar_pin: must be an integer"),
        ({"trigger": {"pin": "13"}}, "trigger.pin: must be an integer"),
        ({"trigger": {"level": "high"}}, "trigger.level"),
        ({"trigger": {"kind": ["radar"]}}, "trigger.kind"),
        ({"wifi": {"ssid": "ap", "password": 1234}}, "wifi.password: must be a string"),
        ({"ntp": 5}, "ntp: must be a non-empty string"),
        ({"camera_pins": {"pin_d0": "5"}}, "camera_pins.pin_d0: must be an integer"),
        ({"retry_s": 1}, "retry_s"),
    ],
)
def test_config_values_of_the_wrong_type_are_config_errors(
    change: dict[str, object], message: str, tmp_path: Path
) -> None:
    """A wrong type must be a ConfigError (safe mode, reported), never a TypeError in a wake."""
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.check({**good(), **change})
    path = tmp_path / "site.json"
    path.write_text(json.dumps({**good(), **change}))
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.load(str(path))


def test_provisioned_site_config_passes_the_firmware_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `alpr provision` writes is exactly what the firmware accepts, unchanged by defaults."""
    from gateway_helpers import write_config

    from tools.field import provision

    monkeypatch.setenv("ALPR_WIFI_PASSWORD", "pd-wifi-pass")
    config = write_config(tmp_path)
    args = provision.build_args(
        ["--camera", "cam-09", "--config", str(config), "--ssid", "pd-net", "--burst", "5",
         "--frame-size", "SVGA", "--trigger", "pir", "--trigger-pin", "33", "--heading", "180",
         "--gateway-url", "http://192.168.4.1:8080"]
    )
    _, site = provision.provision(args)
    written = json.loads(site.read_text())
    checked = cfg.load(str(site))
    assert {k: checked[k] for k in written} == written
    assert checked["wifi"]["password"] == "pd-wifi-pass" and checked["burst"] == 5
    # a 6 V panel (about 7 V in cold sun) through the default divider stays within the ESP32
    # ADC's range at 11 dB (about 2.45 V), for the firmware's default and provision's alike
    assert 7.0 / checked["adc"]["solar_divider"] <= 2.45
    assert 7.0 / cfg.DEFAULTS["adc"]["solar_divider"] <= 2.45


def test_sequence_reservation_survives_a_damaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """state.json and state.bak: a torn or lost copy never sends the counter backwards."""
    fake_machine = type(sys)("machine")
    monkeypatch.setitem(sys.modules, "machine", fake_machine)
    import importlib

    hw = importlib.import_module("hw")
    monkeypatch.chdir(tmp_path)
    st = {"seq": 0, "reserved": 0}
    monkeypatch.setattr(hw, "save_state", lambda st: None)
    assert [hw.next_seq(st) for _ in range(20)][-1] == 20
    reserved = st["reserved"]
    assert reserved >= 20 and hw.reserved_on_flash() == reserved
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "state.json").write_text('{"reser')  # damaged on the flash
    (tmp_path / "state.bak").write_text(json.dumps({"reserved": reserved - hw.SEQ_BLOCK - 1}))
    assert hw.reserved_on_flash() >= reserved  # one copy a reservation behind, the other torn
    (tmp_path / "state.bak").write_text("")
    assert hw.reserved_on_flash(last_queued=30) >= 30 + hw.SEQ_BLOCK
    (tmp_path / "state.json").unlink()
    (tmp_path / "state.bak").unlink()
    assert hw.reserved_on_flash(last_queued=12) == 12  # a new board, or one with only a queue


def test_retry_delay_backs_off_with_jitter() -> None:
    import app

    for fails in range(1, 9):
        cap = min(600, 60 * 2 ** (fails - 1)) * 1000
        delays = {app.retry_ms(60, 600, fails) for _ in range(20)}
        assert all(cap / 2 <= d <= cap for d in delays), (fails, delays)
        assert len(delays) > 1, "no jitter"


def test_a_burst_keeps_the_frames_that_fit_the_gateways_limit() -> None:
    import app

    frames = [b"a" * 4000, b"b" * 4000, b"c" * 4000]
    assert app.fit(frames, 100_000) == 3
    assert app.fit(frames, app.META_ROOM + 2 * 4004) == 2
    assert app.fit(frames, app.META_ROOM + 2 * 4004 - 1) == 1
    assert app.fit(frames, 3000) == 0
    # what the board would send stays within the limit, meta included
    meta = {"captured": 1.7e9, "trigger": "radar", "battery_v": 3.91, "solar_v": 5.02,
            "awake_ms": 123456}
    kept = app.fit(frames, app.META_ROOM + 2 * 4004)
    assert len(proto.encode_event(meta, frames[:kept])) <= app.META_ROOM + 2 * 4004
