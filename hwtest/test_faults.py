"""Faults on the emulated board: watchdog resets, power cuts in the middle of flash writes, answers
that must not move the clock, gateways that refuse, and the retry schedule while the gateway is away.

Each test fails when the guard it is named after is taken out of the firmware.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway import protocol
from hwtest.board import Board, EmulatedBoard
from hwtest.conftest import Gateway, deploy_to, site_config, wait_for

pytestmark = pytest.mark.usefixtures("emulated_only")


@pytest.fixture
def emulated_only(board: Board) -> None:
    if not board.emulated:
        pytest.skip("needs the emulator's hands (power cut, watchdog view, sleep times)")


@contextmanager
def black_hole(port: int) -> Iterator[None]:
    """A listener on the gateway's port that accepts and never answers."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield
    finally:
        srv.close()
        for c in held:
            c.close()


@contextmanager
def fake_gateway(port: int, answer: Any) -> Iterator[None]:
    """A gateway stand-in whose heartbeat answer the test writes: answer(camera, sequence) returns
    (status, body bytes, X-ALPR-Signature or None)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            camera = self.headers.get("X-ALPR-Camera", "")
            status, data, sig = answer(camera, int(self.headers.get("X-ALPR-Sequence", "0")))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if sig is not None:
                self.send_header("X-ALPR-Signature", sig)
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        srv.shutdown()
        srv.server_close()


def emulated(board: Board) -> EmulatedBoard:
    assert isinstance(board, EmulatedBoard)
    return board


def test_watchdog_reset_mid_send_loses_no_event(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    """A send that hangs (the gateway accepts and never answers) stops the feeding; the watchdog
    resets the board, and the event, already on flash, is delivered after the reset."""
    b = emulated(board)
    deploy_to(b, site_config(gateway, tmp_path, burst=1, wdt_ms=5000, http_timeout_s=20))
    gateway.stop()
    with black_hole(gateway.port):
        assert b.trigger()
        assert wait_for(lambda: b.state()["wdtResets"] >= 1, timeout=30), b.console()[-2000:]
    b.wait_asleep(timeout=40)
    gateway.start()
    assert b.timer()
    b.wait_asleep()
    assert [e["sequence"] for e in wait_for(gateway.events)] == [1]


def check_backoff(delays: list[int], first_s: int, most_s: int) -> None:
    """Failed wake k sleeps a random point of [step/2, step], step = first_s * 2**(k-1) <= most_s."""
    steps = [min(most_s, first_s * 2**k) * 1000 for k in range(len(delays))]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step, (delays, steps)
    fractions = {round(d / s, 4) for d, s in zip(delays, steps, strict=True)}
    assert len(fractions) > 1, f"the same point of every step: no jitter {delays}"


def test_gateway_away_backoff_with_jitter_then_power_cuts_mid_write(
    board: Board, gateway: Gateway, tmp_path: Path
) -> None:
    """While events wait the board retries sooner than the heartbeat, backing off with jitter; a
    power cut in the middle of a queue write or of the sequence reservation loses no queued event
    and reuses no sequence number."""
    b = emulated(board)
    deploy_to(b, site_config(gateway, tmp_path, burst=1, retry_s=60))  # heartbeat_s 600
    assert b.trigger()  # event 1 delivered; numbers up to 17 reserved on flash
    b.wait_asleep()
    assert [e["sequence"] for e in wait_for(gateway.events)] == [1]
    gateway.stop()
    assert b.trigger()  # event 2 queued on flash
    delays = [b.wait_asleep()["sleepMs"]]
    for _ in range(4):
        assert b.timer()
        delays.append(b.wait_asleep()["sleepMs"])
    check_backoff(delays, 60, 600)
    # the power goes while event 3 is being written to the queue
    b.arm_power_cut("/q/", after=1000)
    assert b.trigger()
    state = b.wait_asleep()
    assert state["powerCuts"] == 1 and "/q/" in state["cutPath"], state
    b.power_cycle()  # RTC memory lost: the counter comes back from flash
    b.wait_asleep()
    # next the power goes while the sequence reservation is being rewritten (event 18)
    b.arm_power_cut("state", after=5)
    assert b.trigger()
    state = b.wait_asleep()
    assert state["powerCuts"] == 2 and "state" in state["cutPath"], state
    b.power_cycle()
    b.wait_asleep()
    gateway.start()
    assert b.trigger()
    assert b.wait_asleep()["sleepMs"] == 600_000  # all delivered: back to the heartbeat period
    wait_for(lambda: len(gateway.events()) >= 3)
    seqs = [e["sequence"] for e in gateway.events()]
    # event 1 reserved 1..17 on flash, so event 18 needed a new reservation and the power went while
    # it was written: the old one (17) is intact and the board resumes right after it, reusing nothing
    assert seqs == [1, 2, 18], seqs
    log = (gateway.config.parent / "gateway.log").read_text()
    assert "rejected /v1/events" not in log  # no torn body sent, no number used twice
    assert not [h for h in gateway.heartbeats() if h.get("rejected")]
    assert ".tmp" not in b.mpremote("fs", "ls", ":q")


def test_refused_events_and_a_clock_set_only_from_signed_answers(
    board: Board, gateway: Gateway, tmp_path: Path
) -> None:
    """403 unknown camera keeps the event queued; 409 rejects it, counted and logged, and the queue
    moves on; the clock follows only answers signed with the camera's secret."""
    b = emulated(board)
    site = site_config(gateway, tmp_path, burst=1)
    deploy_to(b, site)
    conf = json.loads(site.read_text())
    # the gateway has not picked up the new camera yet: 403 unknown camera, and the event stays
    registered = gateway.config.read_text()
    gateway.stop()
    gateway.config.write_text(registered.replace('id = "cam-hw"', 'id = "cam-elsewhere"'))
    gateway.start()
    assert b.trigger()
    b.wait_asleep()
    gateway.stop()
    gateway.config.write_text(registered)
    gateway.start()
    assert gateway.events() == []
    # another board once used number 2 with other content: the board's event 2 gets a 409
    body = protocol.encode_event(
        {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0},
        [(tmp_path / "images" / "0.jpg").read_bytes()],
    )
    headers = protocol.signed_headers(
        conf["secret"].encode(), protocol.EVENT_PATH, "cam-hw", int(time.time()), 2, body
    )
    req = urllib.request.Request(
        f"http://127.0.0.1:{gateway.port}{protocol.EVENT_PATH}", body,
        {**headers, "Content-Type": protocol.EVENT_TYPE},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201
    assert b.trigger()  # sends the kept event 1, then event 2: rejected, counted, dropped
    b.wait_asleep()
    wait_for(lambda: len(gateway.events()) >= 2)
    assert [e["sequence"] for e in gateway.events()] == [1, 2]
    beat = wait_for(lambda: [h for h in gateway.heartbeats() if h.get("rejected")])
    assert beat and beat[-1]["rejected"] == 1 and beat[-1]["queued"] == 0, gateway.heartbeats()
    assert "event 2 rejected: 409" in b.mpremote("fs", "cat", ":errors.log")

    # the clock: a month-off time, unsigned, forged, then signed with the camera's secret
    b.wait_asleep()  # after the reset that ends every mpremote command
    gateway.stop()
    secret = conf["secret"].encode()
    wrong = int(time.time()) + 30 * 86400
    answer = json.dumps({"time": wrong}).encode()
    expected = time.gmtime(wrong)

    def set_to_wrong() -> bool:
        t = b.state()["timeSet"]  # RTC.datetime(): (Y, M, D, weekday, h, m, s, subseconds)
        return bool(t) and [t[0], t[1], t[2], t[4], t[5]] == list(expected[:5])

    forged = protocol.sign_response(b"not-the-secret", 200, "cam-hw", 0, answer)
    for sig in (None, forged, "0" * 64):
        with fake_gateway(gateway.port, lambda cam, seq, sig=sig: (200, answer, sig)):
            assert b.timer()
            b.wait_asleep()
        assert not set_to_wrong(), f"clock set from an answer signed {sig!r}"
    # the same answer signed with the camera's secret does set it: the check above can fail
    with fake_gateway(
        gateway.port, lambda cam, seq: (200, answer, protocol.sign_response(secret, 200, cam, seq, answer))
    ):
        assert b.timer()
        b.wait_asleep()
    assert set_to_wrong()


def test_an_impostor_answer_never_takes_an_event_off_the_flash(
    board: Board, gateway: Gateway, tmp_path: Path
) -> None:
    """Someone on the camera network answering 201 (or 400) without the camera's secret must not
    make the board drop its capture: it stays on flash and reaches the real gateway later."""
    b = emulated(board)
    site = site_config(gateway, tmp_path, burst=1)
    deploy_to(b, site)
    gateway.stop()
    ok = json.dumps({"event": "fake"}).encode()
    forged = protocol.sign_response(b"not-the-secret", 201, "cam-hw", 1, ok)
    for status, sig in ((201, None), (201, forged), (400, None)):
        with fake_gateway(gateway.port, lambda cam, seq, s=status, g=sig: (s, ok, g)):
            assert b.trigger() if status == 201 and sig is None else b.timer()
            b.wait_asleep()
    assert b.mpremote("fs", "ls", ":q").count(".ev") >= 1, "the capture left the flash"
    b.wait_asleep()  # after the reset that ends every mpremote command
    gateway.start()
    assert b.timer()  # the real gateway is back: the kept event goes
    b.wait_asleep()
    assert [e["sequence"] for e in wait_for(gateway.events)] == [1]
