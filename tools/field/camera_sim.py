"""`alpr camera simulate`: a camera that speaks exactly the firmware's protocol (PROTOCOL.md)."""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway import protocol
from tools.common import add_config_arg, load_config
from tools.errors import UserError

log = logging.getLogger("alpr.camera")


class CameraClient:
    """Signs and posts events and heartbeats for one camera over one keep-alive connection."""

    def __init__(self, base_url: str, camera: str, secret: bytes, timeout_s: float = 10.0) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.camera, self.secret, self.timeout_s = camera, secret, timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def post(
        self, path: str, body: bytes, sequence: int, content_type: str, timestamp: int | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = protocol.signed_headers(
            self.secret, path, self.camera, timestamp or int(time.time()), sequence, body
        )
        headers["Content-Type"] = content_type
        for attempt in (1, 2):  # one retry on a connection the server closed while idle
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, json.loads(data or b"{}")
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def send_event(
        self,
        sequence: int,
        frames: list[bytes],
        trigger: str = "radar",
        battery_v: float = 3.9,
        solar_v: float = 5.0,
    ) -> tuple[int, dict[str, Any]]:
        meta = {
            "captured": time.time(),
            "trigger": trigger,
            "battery_v": battery_v,
            "solar_v": solar_v,
        }
        return self.post(
            protocol.EVENT_PATH, protocol.encode_event(meta, frames), sequence, protocol.EVENT_TYPE
        )

    def send_heartbeat(self, beat: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self.post(protocol.HEARTBEAT_PATH, json.dumps(beat).encode(), 0, "application/json")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def jpeg_files(folder: Path) -> Iterator[bytes]:
    """The JPEGs of a folder, over and over; the folder is checked at the call, not the first send."""
    if not folder.exists():
        raise UserError(f"images folder {folder} does not exist: give --images a folder of JPEGs")
    if not folder.is_dir():
        raise UserError(f"--images {folder} is not a folder: give a folder of JPEGs")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        raise UserError(f"no .jpg files in {folder}: give --images a folder of JPEGs")
    return (f.read_bytes() for f in itertools.cycle(files))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("camera", help="camera tools: simulate a camera against a gateway")
    csub = p.add_subparsers(dest="camera_command", required=True)
    s = csub.add_parser("simulate", help="send signed trigger events from a folder of JPEGs")
    add_config_arg(s)
    s.add_argument("--camera", required=True)
    s.add_argument("--images", type=Path, required=True)
    s.add_argument("--count", type=int, default=10, help="events to send")
    s.add_argument("--rate", type=float, default=2.0, help="events per second")
    s.add_argument("--frames", type=int, default=1, help="frames per event")
    s.add_argument("--gateway", help="gateway URL (default: the config's listen address)")
    s.add_argument("--start-seq", type=int, help="first sequence number (default: from the clock)")
    s.set_defaults(func=simulate)


def simulate(args: argparse.Namespace) -> int:
    config = load_config(args)
    if args.camera not in config.cameras:
        raise UserError(
            f"camera {args.camera!r} is not in the config (cameras: {', '.join(config.cameras)})"
        )
    # a gateway listening on every address is reached on loopback from its own box
    host = "127.0.0.1" if config.listen_host in ("0.0.0.0", "") else config.listen_host
    url = args.gateway or f"http://{host}:{config.listen_port}"
    client = CameraClient(url, args.camera, config.secret(args.camera))
    frames = jpeg_files(args.images)
    seq = args.start_seq if args.start_seq is not None else int(time.time() * 1000) % 2**40
    ok = 0
    for i in range(args.count):
        start = time.monotonic()
        try:
            status, body = client.send_event(seq + i, [next(frames) for _ in range(args.frames)])
        except OSError as exc:  # refused, reset, timed out, unknown host
            why = (exc.strerror or str(exc) or type(exc).__name__).lower()
            raise UserError(
                f"cannot reach the gateway at {url}: {why}; is `alpr gateway serve` running?"
                + ("" if args.gateway else " (or give its address with --gateway URL)")
            ) from None
        ok += status in (200, 201)
        print(json.dumps({"sequence": seq + i, "status": status, **body}), flush=True)
        time.sleep(max(0.0, 1.0 / args.rate - (time.monotonic() - start)))
    client.close()
    print(f"sent {args.count} events, {ok} accepted")
    return 0 if ok == args.count else 1
