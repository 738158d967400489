"""The whole gateway over real HTTP: capture -> durable event -> read -> hot-list hit -> webhook alert,
and the kill -9 test: no acknowledged capture is ever lost."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from access_helpers import Team
from gateway_helpers import SECRET, jpeg, scene_jpeg, write_config, write_secret

from cloud.storage import FileTarget
from gateway import protocol
from gateway.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook
from gateway.config import load
from gateway.store import Store, sha256
from gateway.sync import Syncer
from tools.field.camera_sim import CameraClient

FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Webhook:
    """A real HTTP receiver on loopback that fails its first request, to exercise the retry, and
    keeps only requests whose signature verifies."""

    def __init__(self, secret: bytes) -> None:
        self.received: list[dict[str, Any]] = []
        self.calls = 0
        self.unsigned = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                hook.calls += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, signature = self.headers[TIMESTAMP_HEADER], self.headers[SIGNATURE_HEADER]
                if not verify_webhook(secret, stamp, signature, body):
                    hook.unsigned += 1
                    self.send_response(401)
                elif hook.calls == 1:
                    self.send_response(503)
                else:
                    hook.received.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def start_gateway(config: Path, port: int) -> subprocess.Popen[bytes]:
    # output to a file, not a pipe: a full pipe would block the gateway
    with open(config.parent / "gateway.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(config)],
            stdout=log,
            stderr=log,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((config.parent / "gateway.log").read_text()) from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


def wait_for(predicate: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_capture_to_alert_end_to_end(tmp_path: Path, make_team: Callable[[Path], Team]) -> None:
    hook = Webhook(b"e2e-hook-secret")
    write_secret(tmp_path, "hook.key", "e2e-hook-secret")
    port = free_port()
    hotlist = tmp_path / "hot.csv"
    hotlist.write_text(
        "plate,state,category,case_number,reason,requested_by,contact,instructions,expires\n"
        f"KXR482,IL,stolen-vehicle,26-000123,stolen from driveway,Det. Ray #12,"
        f"dispatch 555-0100,do not approach,{FUTURE}\n"
    )
    extra = (
        f'[[hotlists]]\nsource = "local"\npath = "hot.csv"\n\n'
        f'[[alerts]]\nkind = "webhook"\nurl = "{hook.url}"\nsecret = "file:hook.key"\n\n'
        '[[alerts]]\nkind = "log"\n'
    )
    config = write_config(tmp_path, extra=extra, port=port)
    team = make_team(config)
    approved = team.cli("hotlist", "approve-source", "local", "--config", str(config), user="mgr")
    assert approved[0] == 0, approved[2]
    proc = start_gateway(config, port)
    try:
        client = CameraClient(f"http://127.0.0.1:{port}", "cam-01", SECRET.encode())
        status, _ = client.send_event(1, [scene_jpeg("KXR482", seed=1), jpeg(9)])
        assert status == 201
        status, _ = client.send_event(2, [scene_jpeg("PLM731", seed=2)])
        assert status == 201
        client.close()
        store = Store(tmp_path / "data")
        assert wait_for(lambda: store.backlog() == 0 and len(hook.received) >= 1, 90)
        reads = {r["text"]: r for r in store.connect().execute("SELECT * FROM reads")}
        assert "KXR482" in reads
        read = reads["KXR482"]
        assert (
            read["site"] == "s1"
            and read["heading"] == 90
            and json.loads(read["alternates"]) is not None
        )
        assert (tmp_path / "data" / read["crop_path"]).stat().st_size > 0
        alert = hook.received[0]
        assert "confirm" in alert["reminder"] and "NCIC" in alert["reminder"]
        assert alert["entry"]["case_number"] == "26-000123" and alert["match_kind"] == "exact"
        assert hook.calls >= 2, "the first webhook failure was retried"
        assert hook.unsigned == 0, "every webhook request carried a valid signature"
        hits = store.connect().execute("SELECT id, disposition FROM hits").fetchall()
        assert len(hits) == 1 and hits[0]["disposition"] is None
        # the read goes with retention; the open hit stays listed, from its own copy of the read
        config_obj = load(config)
        purged = Syncer(config_obj, store, FileTarget(tmp_path / "store")).purge(
            time.time() + 40 * 86400
        )
        assert purged and store.connect().execute("SELECT count(*) FROM reads").fetchone()[0] == 0
        listed = team.run(
            *("hits", "list", "--open", "--json"),
            *("--reason", "shift review", "--config", str(config)),
            user="ofc",
        )
        assert listed.returncode == 0, listed.stderr
        open_hits = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [(h["id"], h["text"], h["camera"], h["site"]) for h in open_hits] == [
            (hits[0]["id"], "KXR482", "cam-01", "s1")
        ]
        assert open_hits[0]["captured"] == read["captured"]
        out = team.run(
            *("hits", "verify", str(hits[0]["id"]), "--system", "NCIC", "--result", "confirmed"),
            *("--config", str(config)),
            user="ofc",
        )
        assert out.returncode == 0, out.stderr
        out = team.run(
            *("hits", "disposition", str(hits[0]["id"]), "--status", "confirmed"),
            *("--note", "plate and state verified, NCIC hit confirmed", "--config", str(config)),
            user="ofc",
        )
        assert out.returncode == 0, out.stderr
        row = store.connect().execute("SELECT disposition, disposition_user FROM hits").fetchone()
        assert tuple(row) == ("confirmed", "ofc")
        looks = [(r["user"], r["action"]) for r in team.records(kinds=("inquiry", "change"))]
        assert looks == [
            ("mgr", "hotlist approve-source"),
            ("ofc", "hits list"),
            ("ofc", "hits verify"),
            ("ofc", "hits disposition"),
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_kill_9_loses_no_acknowledged_capture(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port=port)
    acked: dict[tuple[str, int], str] = {}
    lock = threading.Lock()
    frames = [jpeg(i, 160, 120) for i in range(4)]
    rng = random.Random(3)
    next_seq = iter(range(1, 1_000_000))

    for _cycle in range(3):
        proc = start_gateway(config, port)
        stop = threading.Event()

        def camera(name: str, secret: bytes, stop: threading.Event = stop) -> None:
            client = CameraClient(f"http://127.0.0.1:{port}", name, secret, timeout_s=5)
            while not stop.is_set():
                with lock:
                    seq = next(next_seq)
                meta = {
                    "captured": time.time(),
                    "trigger": "radar",
                    "battery_v": 3.9,
                    "solar_v": 5.0,
                }
                body = protocol.encode_event(meta, [frames[seq % 4]])
                try:
                    status, _ = client.post(protocol.EVENT_PATH, body, seq, protocol.EVENT_TYPE)
                except OSError:
                    return
                if status in (200, 201):
                    with lock:
                        acked[(name, seq)] = sha256(body)

        threads = [
            threading.Thread(target=camera, args=(c, s))
            for c, s in [("cam-01", SECRET.encode()), ("cam-02", b"other-secret")] * 2
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(1.0, 2.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=10)

    assert len(acked) > 20, "the test must have acknowledged captures to check"
    store = Store(tmp_path / "data")
    for (camera, seq), digest in acked.items():
        row = (
            store.connect()
            .execute(
                "SELECT body_sha256, path FROM events WHERE camera=? AND sequence=?", (camera, seq)
            )
            .fetchone()
        )
        assert row is not None, f"acknowledged event {camera}/{seq} lost"
        assert row["body_sha256"] == digest
        assert sha256(store.event_body(row["path"])) == digest, f"event file {row['path']} damaged"
