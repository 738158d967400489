"""Answers to cameras: signed when the request authenticated, and every survey in the access log."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from gateway_helpers import SECRET, jpeg, load_config, serve_ingest

from gateway import protocol
from gateway.access import audit
from gateway.access.db import AccessDB


def request(
    url: str, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, str | None]:
    """Status, the exact answer bytes, and the X-ALPR-Signature header if any."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data, response.getheader("X-ALPR-Signature")


def signed(
    path: str, body: bytes, seq: int, method: str = "POST", ts: int | None = None
) -> dict[str, str]:
    return protocol.signed_headers(
        SECRET.encode(), path, "cam-01", ts or int(time.time()), seq, body, method
    )


def verifies(status: int, seq: int, data: bytes, signature: str | None) -> bool:
    expected = protocol.sign_response(SECRET.encode(), status, "cam-01", seq, data)
    return signature == expected


def event(frame_seed: int) -> bytes:
    meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
    return protocol.encode_event(meta, [jpeg(frame_seed)])


def test_every_authenticated_answer_is_signed(tmp_path: Path) -> None:
    with serve_ingest(load_config(tmp_path)) as (url, _store):
        body, other = event(1), event(2)
        beat = json.dumps({"battery_v": 3.9}).encode()
        survey = f"{protocol.SURVEY_PATH}?limit=5"
        stale = int(time.time()) - 3600
        cases = [
            ("POST", protocol.EVENT_PATH, body, 5, None, 201),
            ("POST", protocol.EVENT_PATH, body, 5, None, 200),  # a repeat
            ("POST", protocol.EVENT_PATH, other, 5, None, 409),  # sequence reused
            ("POST", protocol.EVENT_PATH, b"\x00\x00\x00\x02{}", 6, None, 400),  # bad body
            ("POST", protocol.EVENT_PATH, other, 7, stale, 401),  # stale, yet its own camera
            ("POST", protocol.HEARTBEAT_PATH, beat, 0, None, 200),
            ("GET", survey, b"", 0, None, 200),
        ]
        for method, path, data, seq, ts, status in cases:
            headers = signed(path, data, seq, method, ts)
            got, answer, signature = request(url, method, path, data, headers)
            assert got == status, (path, answer)
            assert verifies(status, seq, answer, signature), (path, status, "unsigned or wrong")
            if path != protocol.EVENT_PATH or status >= 400:  # an event's answer stays the first
                assert abs(json.loads(answer)["time"] - time.time()) < 60
            # a signature over other bytes or another status does not verify
            assert not verifies(status + 1, seq, answer, signature)
            assert not verifies(status, seq, answer + b" ", signature)


def test_unauthenticated_answers_are_not_signed(tmp_path: Path) -> None:
    with serve_ingest(load_config(tmp_path)) as (url, _store):
        body = event(3)
        bad = {**signed(protocol.EVENT_PATH, body, 1), "X-ALPR-Signature": "0" * 64}
        status, _, signature = request(url, "POST", protocol.EVENT_PATH, body, bad)
        assert status == 401 and signature is None
        unknown = {**signed(protocol.EVENT_PATH, body, 1), "X-ALPR-Camera": "cam-99"}
        status, _, signature = request(url, "POST", protocol.EVENT_PATH, body, unknown)
        assert status == 403 and signature is None


def test_every_survey_request_is_in_the_access_log(tmp_path: Path) -> None:
    with serve_ingest(load_config(tmp_path)) as (url, store):
        for seq in (1, 2, 3):
            data = event(seq)
            status, _, _ = request(
                url, "POST", protocol.EVENT_PATH, data, signed(protocol.EVENT_PATH, data, seq)
            )
            assert status == 201
        path = f"{protocol.SURVEY_PATH}?limit=2"
        status, answer, _ = request(url, "GET", path, b"", signed(path, b"", 0, "GET"))
        assert status == 200 and len(json.loads(answer)["captures"]) == 2
        forged = {**signed(path, b"", 0, "GET"), "X-ALPR-Signature": "f" * 64}
        assert request(url, "GET", path, b"", forged)[0] == 401
        rows = list(audit.records(AccessDB(store.root)))
    assert [(r["user"], r["action"], r["kind"], r["result_count"]) for r in rows] == [
        ("camera:cam-01", "survey", "view", 2),
        ("camera:cam-01", "survey", "denied", 0),
    ]
    assert rows[0]["why"] == "site survey" and rows[0]["source"] == "127.0.0.1"
    assert "bad signature" in rows[1]["why"]
