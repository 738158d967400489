"""Ingest over real HTTP on loopback: acceptance, every rejection, idempotency, heartbeats."""

from __future__ import annotations

import http.client
import json
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gateway_helpers import SECRET, jpeg, load_config, serve_ingest

from gateway import protocol
from gateway.config import load
from tools.field.camera_sim import CameraClient


def raw_post(
    url: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    conn.close()
    return resp.status, data


def event_body(frames: list[bytes]) -> bytes:
    return protocol.encode_event(
        {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}, frames
    )


def signed(
    body: bytes, seq: int, camera: str = "cam-01", secret: str = SECRET, ts: int | None = None
) -> dict[str, str]:
    return protocol.signed_headers(
        secret.encode(), protocol.EVENT_PATH, camera, ts or int(time.time()), seq, body
    )


def test_event_is_stored_once_and_repeat_returns_first_answer(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    with serve_ingest(config) as (url, store):
        client = CameraClient(url, "cam-01", SECRET.encode())
        frames = [jpeg(1), jpeg(2)]
        body = event_body(frames)
        status, first = raw_post(url, protocol.EVENT_PATH, body, signed(body, 7))
        assert status == 201 and first["frames"] == 2
        status, again = raw_post(url, protocol.EVENT_PATH, body, signed(body, 7))
        assert status == 200 and again == first
        assert store.connect().execute("SELECT count(*) FROM events").fetchone()[0] == 1
        stored = store.find_event("cam-01", 7)
        assert stored is not None
        row = store.connect().execute("SELECT path FROM events").fetchone()
        assert protocol.decode_event(store.event_body(row[0])).frames == frames
        # the same sequence with other content is a replay attempt
        other = event_body([jpeg(3)])
        status, err = raw_post(url, protocol.EVENT_PATH, other, signed(other, 7))
        assert status == 409 and "sequence reused" in str(err["error"])
        client.close()


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("no-signature", 401, "missing signature"),
        ("bad-signature", 401, "bad signature"),
        ("wrong-secret", 401, "bad signature"),
        ("unknown-camera", 403, "unknown camera"),
        ("stale", 401, "stale timestamp"),
        ("not-jpeg", 400, "not a complete JPEG"),
        ("corrupt-jpeg", 400, "corrupt JPEG"),
        ("bad-meta", 400, "metadata is not JSON"),
        ("too-big", 413, "body over"),
        ("no-frames", 400, "1 to 16 frames"),
    ],
)
def test_rejections_are_named_and_service_keeps_running(
    tmp_path: Path, case: str, status: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(tmp_path)
    good = jpeg(5)
    body = event_body([good])
    headers = signed(body, 1)
    if case == "no-signature":
        del headers["X-ALPR-Signature"]
    elif case == "bad-signature":
        headers["X-ALPR-Signature"] = "0" * 64
    elif case == "wrong-secret":
        headers = signed(body, 1, secret="guess")
    elif case == "unknown-camera":
        headers = signed(body, 1, camera="cam-99")
    elif case == "stale":
        headers = signed(body, 1, ts=int(time.time()) - 3600)
    elif case == "not-jpeg":
        body = event_body([b"GIF89a not a jpeg at all"])
        headers = signed(body, 1)
    elif case == "corrupt-jpeg":
        broken = good[:200] + bytes(len(good) - 202) + b"\xff\xd9"
        body = event_body([broken])
        headers = signed(body, 1)
    elif case == "bad-meta":
        body = b"\x00\x00\x00\x05{oops" + b"\x00\x00\x00\x04\xff\xd8\xff\xd9"
        headers = signed(body, 1)
    elif case == "too-big":
        body = event_body([good] * 16) + b"\x00" * 2_000_000
        headers = signed(body, 1)
    elif case == "no-frames":
        body = protocol.encode_event(
            {"captured": 1.0, "trigger": "pir", "battery_v": 3.9, "solar_v": 5.0}, []
        )
        headers = signed(body, 1)
    with (
        serve_ingest(config) as (url, store),
        caplog.at_level(logging.WARNING, logger="alpr.ingest"),
    ):
        got, answer = raw_post(url, protocol.EVENT_PATH, body, headers)
        assert got == status
        assert reason in str(answer["error"])
        assert any(reason in r.getMessage() for r in caplog.records), "one log line per rejection"
        assert store.connect().execute("SELECT count(*) FROM events").fetchone()[0] == 0
        # still serving: a good event goes through afterwards
        ok_body = event_body([good])
        assert raw_post(url, protocol.EVENT_PATH, ok_body, signed(ok_body, 2))[0] == 201


def test_heartbeat_is_recorded_and_answers_time(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    with serve_ingest(config) as (url, store):
        client = CameraClient(url, "cam-02", b"other-secret")
        status, body = client.send_heartbeat(
            {
                "battery_v": 3.3,
                "solar_v": 0.1,
                "rssi": -70,
                "firmware": "1.0.0",
                "free_flash": 100000,
                "queued": 2,
                "dropped": 1,
                "error": None,
            }
        )
        assert status == 200 and abs(float(body["time"]) - time.time()) < 60  # type: ignore[arg-type]
        status, body = client.send_heartbeat({"battery_v": "low"})
        assert status == 400 and "battery_v" in str(body["error"])
        client.close()
        rows = store.connect().execute("SELECT camera, body FROM heartbeats").fetchall()
        assert len(rows) == 1 and json.loads(rows[0]["body"])["dropped"] == 1


@pytest.mark.parametrize(
    ("sequence", "timestamp", "status", "reason"),
    [
        (2**63, None, 400, "sequence over 9223372036854775807"),
        (2**64 + 5, None, 401, "malformed timestamp or sequence"),
        (1, 10**400, 401, "malformed timestamp or sequence"),
    ],
)
def test_signed_numbers_too_large_for_the_store_are_refused(
    tmp_path: Path, sequence: int, timestamp: int | None, status: int, reason: str
) -> None:
    """Found by fuzzing the camera API: a correctly signed sequence of 2^63 reached SQLite
    (OverflowError, a 500), and so would a timestamp of 400 digits (float conversion)."""
    config = load_config(tmp_path)
    with serve_ingest(config) as (url, _store):
        body = event_body([jpeg(1)])
        headers = signed(body, sequence, ts=timestamp)
        answer = raw_post(url, protocol.EVENT_PATH, body, headers)
        assert answer[0] == status and reason in str(answer[1]["error"]), answer
        assert raw_post(url, protocol.EVENT_PATH, body, signed(body, 2**63 - 1))[0] == 201


HEARTBEAT_REFUSALS = [
    (b'{"battery_v": NaN, "solar_v": 5.0}', "'battery_v' must be a finite number, got nan"),
    (b'{"battery_v": 3.9, "solar_v": Infinity}', "'solar_v' must be a finite number, got inf"),
    (b'{"temp_c": -Infinity}', "'temp_c' must be a finite number, got -inf"),
    (b'{"rssi": 1e999}', "'rssi' must be a finite number, got inf"),
    (b'{"extra": {"cells": [3.9, NaN]}}', "'extra.cells[1]' must be a finite number"),
    (b'{"free_flash": 1' + b"0" * 5000 + b"}", "heartbeat has a number too long"),
    (b'{"error": ' + b"[" * 100_000 + b"}", "heartbeat is nested too deeply"),
]


@pytest.mark.parametrize(("body", "reason"), HEARTBEAT_REFUSALS, ids=range(len(HEARTBEAT_REFUSALS)))
def test_heartbeat_with_a_number_that_is_not_json_is_refused(
    tmp_path: Path, body: bytes, reason: str
) -> None:
    """json.loads takes NaN, Infinity and 1e999 (not JSON: they would be stored and break whoever
    reads the heartbeat later) and raises outside its own error for huge integers and deep nesting
    (a 500): each is a signed 400 naming the field, nothing is stored, and the gateway serves on."""
    config = load_config(tmp_path)
    with serve_ingest(config) as (url, store):
        client = CameraClient(url, "cam-01", SECRET.encode())
        status, answer = client.post(protocol.HEARTBEAT_PATH, body, 0, "application/json")
        assert status == 400 and reason in str(answer["error"]), answer
        assert client.send_heartbeat({"battery_v": 3.9, "solar_v": 5.0})[0] == 200
        client.close()
        rows = store.connect().execute("SELECT body FROM heartbeats").fetchall()
        assert [json.loads(r["body"]) for r in rows] == [{"battery_v": 3.9, "solar_v": 5.0}]


def test_bounded_load_from_20_cameras_loses_nothing(tmp_path: Path) -> None:
    """20 cameras post 10 events each at once; every one is accepted and stored exactly once."""
    import threading

    from tools.bench.gateway import bench_config

    config = load(bench_config(tmp_path, 20, 0))
    frame = jpeg(4, 640, 360)
    results: list[int] = []
    with serve_ingest(config) as (url, store):

        def camera(i: int) -> None:
            client = CameraClient(url, f"cam-{i:02d}", f"k{i}".encode())
            for seq in range(1, 11):
                results.append(client.send_event(seq, [frame])[0])
            client.close()

        threads = [threading.Thread(target=camera, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert results.count(201) == 200
        assert store.connect().execute("SELECT count(*) FROM events").fetchone()[0] == 200
