"""Ingest: the HTTP endpoint cameras post to (PROTOCOL.md). It stores and answers; it never reads plates.

Every rejection is a 4xx with a JSON reason and one log line; the server keeps running.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from gateway import protocol
from gateway.config import Config, ConfigError
from gateway.reader.images import ImageError, check_size, header_size
from gateway.store import Store, sha256

log = logging.getLogger("alpr.ingest")


class Rejection(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def check_jpeg(frame: bytes, index: int) -> None:
    """A frame must have a sane JPEG header and decode (at 1/8 scale, which is cheap)."""
    try:
        size = header_size(frame)
        if size is None:
            raise ImageError("not a JPEG")
        check_size(*size)
    except ImageError as exc:
        raise Rejection(400, f"frame {index}: {exc}") from None
    img = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if img is None:
        raise Rejection(400, f"frame {index}: corrupt JPEG (does not decode)")


class IngestServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self.secrets: dict[str, bytes] = {}
        super().__init__((config.listen_host, config.listen_port), IngestHandler)

    def secret(self, camera: str) -> bytes:
        if camera not in self.secrets:
            self.secrets[camera] = self.config.secret(camera)
        return self.secrets[camera]


class IngestHandler(BaseHTTPRequestHandler):
    server: IngestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # (secret, camera, sequence) of the request being answered, once its signature verified
    signer: tuple[bytes, str, int] | None = None

    def answer(self, status: int, body: dict[str, Any]) -> None:
        signer, self.signer = self.signer, None
        if signer is not None and status >= 400:
            body = {**body, "time": time.time()}  # a stale camera sets its clock from this
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if signer is not None:
            secret, camera, sequence = signer
            self.send_header(
                "X-ALPR-Signature", protocol.sign_response(secret, status, camera, sequence, data)
            )
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.signer = None
        if self.path == "/v1/health":
            self.answer(
                200, {"ok": True, "time": time.time(), "backlog": self.server.store.backlog()}
            )
            return
        camera = self.headers.get("X-ALPR-Camera", "")
        try:
            if self.path.split("?")[0] != protocol.SURVEY_PATH:
                raise Rejection(404, f"no such endpoint {self.path}")
            status, body = self.get_survey(camera)
        except Rejection as r:
            log.warning("rejected GET %s camera=%r: %d %s", self.path, camera, r.status, r.reason)
            self.answer(r.status, {"error": r.reason})
            return
        self.answer(status, body)

    def get_survey(self, camera: str) -> tuple[int, dict[str, Any]]:
        """The camera's latest captures (first frame of each), for the technician's site survey."""
        self.read_signed(camera, "GET")
        query = parse_qs(urlsplit(self.path).query)
        try:
            limit = max(1, min(50, int(query.get("limit", ["20"])[0])))
        except ValueError:
            raise Rejection(400, "limit must be an integer") from None
        store = self.server.store
        rows = (
            store.connect()
            .execute(
                "SELECT sequence, path FROM events WHERE camera=? ORDER BY id DESC LIMIT ?",
                (camera, limit),
            )
            .fetchall()
        )
        captures = []
        for row in rows:
            frame = protocol.decode_event(store.event_body(row["path"])).frames[0]
            captures.append({"sequence": row["sequence"], "jpeg": base64.b64encode(frame).decode()})
        return 200, {"camera": camera, "captures": captures}

    def do_POST(self) -> None:
        self.signer = None
        camera = self.headers.get("X-ALPR-Camera", "")
        try:
            if self.path == protocol.EVENT_PATH:
                status, body = self.post_event(camera)
            elif self.path == protocol.HEARTBEAT_PATH:
                status, body = self.post_heartbeat(camera)
            else:
                raise Rejection(404, f"no such endpoint {self.path}")
        except Rejection as r:
            log.warning(
                "rejected %s from %s camera=%r: %d %s",
                self.path,
                self.client_address[0],
                camera,
                r.status,
                r.reason,
            )
            self.close_connection = r.status in (413, 400) or self.close_connection
            self.answer(r.status, {"error": r.reason})
            return
        self.answer(status, body)

    def read_signed(self, camera: str, method: str = "POST") -> tuple[bytes, int]:
        """The verified body and sequence number, or a Rejection naming what failed."""
        cfg = self.server.config
        try:
            length = int(self.headers.get("Content-Length", "0" if method == "GET" else ""))
        except ValueError:
            raise Rejection(411, "Content-Length required") from None
        if length > cfg.max_body_bytes:
            raise Rejection(413, f"body over {cfg.max_body_bytes} bytes")
        if not camera:
            raise Rejection(401, "missing camera id")
        if camera not in cfg.cameras:
            self.rfile.read(length)
            raise Rejection(403, f"unknown camera {camera!r}")
        body = self.rfile.read(length)
        signature = self.headers.get("X-ALPR-Signature", "")
        if not signature:
            raise Rejection(401, "missing signature")
        try:
            timestamp = int(self.headers.get("X-ALPR-Timestamp", ""))
            sequence = int(self.headers.get("X-ALPR-Sequence", ""))
        except ValueError:
            raise Rejection(401, "missing or malformed timestamp or sequence") from None
        try:
            secret = self.server.secret(camera)
        except ConfigError as exc:
            log.error("camera %s has no usable secret: %s", camera, exc)
            raise Rejection(403, "camera has no usable secret") from None
        expected = protocol.sign(secret, method, self.path, camera, timestamp, sequence, body)
        if not hmac.compare_digest(expected, signature):
            raise Rejection(401, "bad signature")
        # verified: every answer from here on is signed and carries the time, a stale refusal too,
        # so that a camera whose clock lost power can set it from this answer
        self.signer = (secret, camera, sequence)
        if abs(time.time() - timestamp) > cfg.clock_skew_s:
            raise Rejection(401, f"stale timestamp ({int(time.time() - timestamp)} s off)")
        if sequence < 0:
            raise Rejection(400, "negative sequence")
        return body, sequence

    def post_event(self, camera: str) -> tuple[int, dict[str, Any]]:
        body, sequence = self.read_signed(camera)
        store = self.server.store
        previous = store.find_event(camera, sequence)
        if previous is not None:
            return self.repeat(previous, body)
        try:
            event = protocol.decode_event(body)
        except protocol.ProtocolError as exc:
            raise Rejection(400, str(exc)) from None
        for i, frame in enumerate(event.frames, 1):
            check_jpeg(frame, i)
        response = store.add_event(camera, sequence, event.meta, body)
        if response is None:  # a concurrent copy of the same request won the race
            again = store.find_event(camera, sequence)
            assert again is not None
            return self.repeat(again, body)
        log.info(
            "event %s camera=%s seq=%d frames=%d",
            response["event"],
            camera,
            sequence,
            len(event.frames),
        )
        return 201, response

    def repeat(self, previous: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if previous["body_sha256"] != sha256(body):
            raise Rejection(409, "sequence reused with a different body")
        return 200, json.loads(previous["response"])

    def post_heartbeat(self, camera: str) -> tuple[int, dict[str, Any]]:
        body, _ = self.read_signed(camera)
        try:
            beat = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Rejection(400, "heartbeat is not JSON") from None
        if not isinstance(beat, dict):
            raise Rejection(400, "heartbeat must be a JSON object")
        for key in ("battery_v", "solar_v", "rssi", "free_flash", "queued", "dropped", "rejected"):
            value = beat.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise Rejection(400, f"heartbeat {key!r} must be a number")
        self.server.store.add_heartbeat(camera, beat)
        return 200, {"time": time.time()}
