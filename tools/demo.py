"""`alpr demo`: the whole gateway on embedded defaults, with scenes made here and nothing to install.

Simulated cameras sign and post captures of generated street scenes; the gateway stores them, reads
the plates, matches a small hot list and delivers alerts to a webhook on loopback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import secrets
import shutil
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2

from gateway import config as cfg
from gateway import review
from gateway.access import sessions, settings, users
from gateway.access.db import AccessDB
from gateway.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook
from tools.common import DEFAULT_CONFIG, DEMO_DIR
from tools.field.camera_sim import CameraClient
from tools.ops.gateway_cmd import gateway_status
from tools.scenes import make_scene
from tools.train.plates import random_text

if TYPE_CHECKING:  # the gateway's web stack loads only for the commands that run it
    from gateway.service import Gateway

log = logging.getLogger("alpr.demo")


DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # public, like the embedded cameras' secrets


@dataclass
class WebhookSink:
    """Receives alerts on loopback, verifies their signature, and notes when each arrived."""

    secret: bytes = DEMO_WEBHOOK_SECRET.encode()
    arrivals: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    refused: int = 0

    def serve(self) -> ThreadingHTTPServer:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stamp = self.headers.get(TIMESTAMP_HEADER)
                signature = self.headers.get(SIGNATURE_HEADER)
                if not verify_webhook(sink.secret, stamp, signature, body):
                    sink.refused += 1
                    self.send_response(401)
                else:
                    sink.arrivals.append((time.time(), json.loads(body)))
                    self.send_response(204)
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@contextmanager
def running_gateway(workdir: Path, hotlist_csv: str) -> Iterator[tuple[Gateway, WebhookSink]]:
    """The embedded default config, moved into `workdir`, on a free port, with a webhook sink."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / "hotlist.csv").write_text(hotlist_csv)
    sink = WebhookSink()
    sink_server = sink.serve()
    doc = tomllib.loads(DEFAULT_CONFIG.read_text())  # written by the demo: literal secrets allowed
    doc["gateway"] = {**doc["gateway"], "listen": "127.0.0.1:0"}  # data where --demo looks
    doc["hotlists"] = [{"source": "demo", "path": "hotlist.csv", "format": "csv"}]
    doc["console"] = {**doc.get("console", {}), "listen": "127.0.0.1:0"}  # a free port
    doc["alerts"] = [
        {
            "kind": "webhook",
            "url": f"http://127.0.0.1:{sink_server.server_address[1]}/alerts",
            "secret": f"literal:{DEMO_WEBHOOK_SECRET}",
        },
        {"kind": "log"},
    ]
    from gateway.service import Gateway

    gateway = Gateway(cfg.parse(doc, workdir, allow_literal=True))
    # the demo's own list, approved as a source as a manager would (alpr hotlist approve-source)
    review.approve_source(gateway.store, "demo", "demo", "the demo's generated list")
    gateway.start()
    try:
        yield gateway, sink
    finally:
        gateway.shutdown()
        sink_server.shutdown()


def hotlist_csv(plates: list[str]) -> str:
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    lines = ["plate,state,category,case_number,reason,requested_by,contact,instructions,expires"]
    for i, plate in enumerate(plates):
        lines.append(
            f"{plate},IL,stolen-vehicle,26-{i + 1:05d},reported stolen,Det. A. Rivera #214,"
            f"dispatch 555-0100,verify then call dispatch,{expires}"
        )
    return "\n".join(lines) + "\n"


DEMO_USER = "demo"
DEMO_ROLES = ["officer", "technician"]  # roles a password alone opens: no second factor to set up


def demo_login(config: cfg.Config, workdir: Path) -> str:
    """A trained demo user at every demo site, logged in: `alpr --demo ...` then acts as it.

    Its password (random) and token stay in the demo's own folder, readable by their owner only."""
    db = AccessDB(config.data_dir)
    s = settings.load(db)
    password = secrets.token_urlsafe(18)
    sites = sorted({c.site for c in config.cameras.values()})
    users.add(db, DEMO_USER, password, DEMO_ROLES, "alpr demo", "alpr demo", s, sites)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    users.train(db, DEMO_USER, today, None, "alpr demo", "alpr demo", s)
    token, _ = sessions.login(db, DEMO_USER, password, None, "alpr demo", s)
    for name, text in (("demo-password", password), ("token", token)):
        fd = os.open(workdir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
    return DEMO_USER


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the whole gateway on generated scenes, end to end")
    p.add_argument("--events", type=int, default=12, help="captures to send")
    p.add_argument("--out", type=Path, default=DEMO_DIR)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--console",
        action="store_true",
        help="keep the gateway and its web console running after the summary, until Ctrl-C",
    )
    p.set_defaults(func=run)


def wait_until(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def run(args: argparse.Namespace) -> int:
    if not args.verbose:  # the summary tells the story; alerts and rejections still show
        logging.getLogger().setLevel(logging.WARNING)
    rng = random.Random(args.seed)
    texts = [random_text(rng) for _ in range(args.events)]
    wanted = texts[::4]  # every fourth passing car is on the hot list
    with running_gateway(args.out, hotlist_csv(wanted)) as (gateway, sink):
        host, port = gateway.address
        cameras = list(gateway.config.cameras.values())
        clients = {
            c.id: CameraClient(f"http://{host}:{port}", c.id, gateway.config.secret(c.id))
            for c in cameras
        }
        accepted = 0
        for i, text in enumerate(texts):
            frames = []
            for _ in range(2):  # a burst of two frames per trigger
                frame, _, _ = make_scene(rng, text)
                frames.append(
                    cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                )
            camera = cameras[i % len(cameras)].id
            status, _ = clients[camera].send_event(i + 1, frames)
            accepted += status == 201
        rogue = CameraClient(f"http://{host}:{port}", cameras[0].id, b"not-the-secret")
        rejected_status, _ = rogue.send_event(999, frames)
        wait_until(lambda: gateway.store.backlog() == 0, 120)
        wait_until(lambda: len(sink.arrivals) >= len(wanted), 20)

        def unsynced() -> int:
            row = gateway.store.connect().execute(
                "SELECT count(*) FROM reads WHERE synced_at IS NULL"
            )
            return int(row.fetchone()[0])

        wait_until(lambda: unsynced() == 0, 30)
        synced = (
            gateway.store.connect()
            .execute("SELECT count(*) FROM reads WHERE synced_at IS NOT NULL")
            .fetchone()[0]
        )
        summary = gateway_status(gateway.store)
        who = demo_login(gateway.config, args.out)
        rows = (
            gateway.store.connect()
            .execute(
                "SELECT events.sequence, reads.text, reads.confidence FROM events"
                " LEFT JOIN reads ON reads.event_id = events.id ORDER BY events.sequence"
            )
            .fetchall()
        )
        reads = {r["text"] for r in rows if r["text"]}
        for c in [*clients.values(), rogue]:
            c.close()
        console_url = gateway.console.url if gateway.console is not None else None
        for r in rows:
            truth = texts[r["sequence"] - 1]
            verdict = "ok" if r["text"] == truth else "MISREAD"
            listed = "  on hot list" if truth in wanted else ""
            print(
                f"capture {r['sequence']:>2}: plate {truth:<8} read {r['text'] or '-':<8} {verdict}{listed}"
            )
        print(f"captures sent      {len(texts)} ({accepted} accepted, each a burst of 2 frames)")
        print(f"forged capture     rejected with HTTP {rejected_status}")
        print(
            f"plates read        {summary['reads']} ({len(reads & set(texts))} of {len(texts)} exactly right)"
        )
        print(f"hot-list hits      {summary['hits_open']} (of {len(wanted)} cars on the list)")
        print(
            f"alerts delivered   {len(sink.arrivals)} to the webhook, signed and verified, each with "
            f"the verify-first reminder ({sink.refused} refused for a bad signature)"
        )
        print(f"store              {gateway.config.data_dir}")
        print(f"reads synced       {synced} to {gateway.target.url}")
        print(
            f"logged in as       {who} ({', '.join(DEMO_ROLES)}), token in {args.out / 'token'}:"
            " try `alpr --demo hits list --reason demo`"
        )
        print_console(console_url, who, args.out)
        if args.console and sys.stdin.isatty():
            serve_until_interrupted()
        elif args.console:  # a script or CI ran it: end with the demo rather than hang
            print("not on a terminal: the console stops with the demo")
    return 0 if accepted == len(texts) else 1


def print_console(url: str | None, who: str, out: Path) -> None:
    if url is None:
        return
    password = (out / "demo-password").read_text().strip()
    print(f"web console        {url}  (log in as {who}, password {password})")


def serve_until_interrupted() -> None:
    print("the gateway and its console keep running: Ctrl-C to stop")
    with suppress(KeyboardInterrupt):
        threading.Event().wait()
