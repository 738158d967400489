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
    assert first[0] == 201 and again[0] == 200
    assert {**again[1], "time": None} == {**first[1], "time": None}  # only the gateway's time moves
    bad = dict(conf, secret="wrong")
    assert proto.post(bad, proto.EVENT_PATH, body, 8, proto.EVENT_TYPE, int(time.time()))[0] == 401
    assert abs(proto.gateway_time(conf) - time.time()) < 5


def test_queue_is_bounded_and_drops_the_oldest(tmp_path: Path) -> None:
    d = str(tmp_path / "q")
    dropped = sum(evq.put(seq, b"event %d" % seq, limit=3, d=d) for seq in range(1, 6))
    assert dropped == 2
    assert evq.seqs(d) == [3, 4, 5]
    assert evq.get(4, d) == b"event 4"
    evq.remove(4, d)
    assert evq.seqs(d) == [3, 5]


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
