"""The camera listener's limits, over raw sockets on loopback: refusals before the body is read, no
body left behind on the connection, deadlines for slow clients, and the connection cap."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gateway_helpers import SECRET, jpeg, serve_ingest, write_config

from gateway import protocol
from gateway.config import load

LIMITS = """
max_body_bytes = 100000
header_timeout_s = 1
request_timeout_s = 2
keepalive_timeout_s = 1
max_connections = 3
"""
GIVE_UP_S = 20.0  # ten times the deadlines: a connection still open by then was never closed


@contextmanager
def limited(tmp: Path) -> Iterator[tuple[str, int]]:
    path = write_config(tmp, gateway=LIMITS)
    text = path.read_text().replace("max_body_bytes = 2000000\n", "")
    path.write_text(text)
    with serve_ingest(load(path)) as (url, _store):
        u = urlsplit(url)
        yield str(u.hostname), int(u.port or 0)


def connect(addr: tuple[str, int]) -> socket.socket:
    return socket.create_connection(addr, timeout=GIVE_UP_S)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def head(path: str, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"X-ALPR-Camera": "cam-99", "Content-Length": "-1"}, 411, b"Content-Length"),
        ({"X-ALPR-Camera": "cam-01", "Content-Length": "lots"}, 411, b"Content-Length"),
        ({"X-ALPR-Camera": "cam-01"}, 411, b"Content-Length required"),
        ({"X-ALPR-Camera": "cam-01", "Content-Length": "40000000"}, 413, b"body over 100000"),
        ({"X-ALPR-Camera": "cam-99", "Content-Length": "90000"}, 403, b"unknown camera"),
        ({"Content-Length": "90000"}, 401, b"missing camera id"),
    ],
)
def test_refused_from_the_headers_before_the_body_is_sent(
    tmp_path: Path, headers: dict[str, str], status: int, reason: bytes
) -> None:
    """The answer comes while the body is still unsent: the server never waits for it or reads it."""
    with limited(tmp_path) as addr, connect(addr) as sock:
        sock.sendall(head(protocol.EVENT_PATH, headers))
        answer = read_all(sock)  # no body sent at all; an old server would wait for one
        assert status_of(answer) == status, answer
        assert reason in answer
        assert b"connection: close" in answer.lower()


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("POST", protocol.EVENT_PATH, {"X-ALPR-Camera": "cam-99"}, 403),  # unknown camera
        ("POST", protocol.EVENT_PATH, {}, 401),  # no camera id
        ("POST", "/v1/nothing", {"X-ALPR-Camera": "cam-01"}, 404),  # no such endpoint
        ("GET", protocol.HEALTH_PATH, {}, 200),  # answered without looking at the body
    ],
)
def test_a_body_left_unread_is_never_read_as_the_next_request(
    tmp_path: Path, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    """The unread body looks like requests; none of them may be answered."""
    smuggled = head(protocol.HEALTH_PATH, {}, method="GET") * 2000
    with limited(tmp_path) as addr, connect(addr) as sock:
        sock.sendall(head(path, {**headers, "Content-Length": str(len(smuggled))}, method))
        time.sleep(0.2)  # let the answer go out before the body arrives
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(smuggled)
        answer = read_all(sock)
        assert answer.count(b"HTTP/1.1 ") == 1, answer[:500]
        assert status_of(answer) == status


def test_chunked_body_past_the_limit_is_refused(tmp_path: Path) -> None:
    with limited(tmp_path) as addr, connect(addr) as sock:
        headers = {"X-ALPR-Camera": "cam-01", "Transfer-Encoding": "chunked"}
        sock.sendall(head(protocol.EVENT_PATH, headers))
        chunk = b"%x\r\n%s\r\n" % (10_000, b"\x00" * 10_000)
        try:
            for _ in range(30):  # 300 KB offered, three times the limit
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_all(sock)
        assert status_of(answer) == 413 and b"body over 100000" in answer


def test_chunked_body_within_the_limit_is_accepted(tmp_path: Path) -> None:
    body = protocol.encode_event(
        {"captured": time.time(), "trigger": "pir", "battery_v": 3.9, "solar_v": 5.0}, [jpeg(1)]
    )
    headers = protocol.signed_headers(
        SECRET.encode(), protocol.EVENT_PATH, "cam-01", int(time.time()), 1, body
    )
    with limited(tmp_path) as (host, port):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(
            "POST", protocol.EVENT_PATH, body=iter([body[:500], body[500:]]), headers=headers
        )
        response = conn.getresponse()
        assert response.status == 201, response.read()
        conn.close()


def trickle(sock: socket.socket, data: bytes, every_s: float = 0.2) -> tuple[bool, float]:
    """Send one byte at a time until the server closes the connection; (closed, seconds)."""
    start = time.monotonic()
    sock.settimeout(every_s)
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(65536) == b"":
                return True, time.monotonic() - start
        except TimeoutError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            return True, time.monotonic() - start
        if time.monotonic() - start > GIVE_UP_S:
            break
    return False, time.monotonic() - start


def test_headers_trickled_byte_by_byte_are_cut_off(tmp_path: Path) -> None:
    """Every byte would restart uvicorn's keep-alive timer; the header deadline does not move."""
    endless = head(protocol.EVENT_PATH, {"X-Long": "x" * 1000})
    with limited(tmp_path) as addr, connect(addr) as sock:
        closed, seconds = trickle(sock, endless)
        print(f"trickled headers: connection closed after {seconds:.1f} s (header deadline 1 s)")
        assert closed, "a client trickling header bytes held the connection open"
        with connect(addr) as other:  # and the server still serves
            other.sendall(head(protocol.HEALTH_PATH, {"Connection": "close"}, method="GET"))
            assert status_of(read_all(other)) == 200


def test_body_trickled_byte_by_byte_is_cut_off(tmp_path: Path) -> None:
    """Headers on time, then a body that never finishes: the whole-request deadline closes it."""
    headers = {"X-ALPR-Camera": "cam-01", "Content-Length": "50000"}
    with limited(tmp_path) as addr, connect(addr) as sock:
        sock.sendall(head(protocol.EVENT_PATH, headers))
        closed, seconds = trickle(sock, b"\x00" * 50_000)
        print(f"trickled body: connection closed after {seconds:.1f} s (request deadline 2 s)")
        assert closed, "a client trickling its body held the connection open"


def test_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    with limited(tmp_path) as addr, connect(addr) as sock:
        sock.sendall(head(protocol.HEALTH_PATH, {}, method="GET"))
        answer = read_all(sock)  # returns only once the server closes the idle connection
        assert status_of(answer) == 200 and json.loads(answer.split(b"\r\n\r\n", 1)[1])["ok"]


def test_connections_over_the_cap_are_refused(tmp_path: Path) -> None:
    with limited(tmp_path) as addr:
        held = [connect(addr) for _ in range(3)]
        for sock in held:
            sock.sendall(b"GET /v1/he")  # half a request: each holds its slot
        time.sleep(0.3)
        with connect(addr) as extra:
            answer = read_all(extra)
            assert status_of(answer) == 503 and b"too many connections" in answer
        for sock in held:
            sock.close()
        time.sleep(0.3)
        with connect(addr) as again:
            again.sendall(head(protocol.HEALTH_PATH, {"Connection": "close"}, method="GET"))
            assert status_of(read_all(again)) == 200
