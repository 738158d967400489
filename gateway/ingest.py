"""Ingest: what the gateway does with a camera's request (PROTOCOL.md). It stores and answers; it never
reads plates. The HTTP side is gateway/web/camera_api.py; this module knows nothing of HTTP.

Every rejection is a Rejection with a status and a reason, answered as JSON with one log line; the
service keeps running.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from gateway import protocol
from gateway.access import audit
from gateway.access.db import AccessDB
from gateway.camera_keys import CameraKeys
from gateway.config import Config, ConfigError
from gateway.reader.images import ImageError, check_jpeg_whole, check_size, header_size
from gateway.store import Store, sha256
from gateway.store_health import StoreHealth, is_corrupt, is_disk_full

log = logging.getLogger("alpr.ingest")
SURVEY_MAX = 50
# the heartbeat's keys that must be numbers where present (PROTOCOL.md; the API spec says so too)
HEARTBEAT_NUMBERS = ("battery_v", "solar_v", "rssi", "free_flash", "queued", "dropped", "rejected")
HEADER_INT = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class Caller:
    """A request whose signature verified: its answers are signed with the same secret."""

    camera: str
    sequence: int
    secret: bytes


def header_int(value: str) -> int:
    """An integer header as PROTOCOL.md writes it: ASCII digits after an optional minus, at most
    19 of them. int() alone would take spaces, underscores and other scripts' digits, and numbers
    too large for a float or an SQLite integer (a 500 further on)."""
    if not HEADER_INT.fullmatch(value):
        raise ValueError(f"not an integer header: {value[:40]!r}")
    return int(value)


class Rejection(Exception):
    """A refused request: `close` when its body was not read (the connection cannot be reused),
    `caller` when it was authenticated (the answer is then signed)."""

    def __init__(
        self, status: int, reason: str, close: bool = False, caller: Caller | None = None
    ) -> None:
        super().__init__(reason)
        self.status, self.reason, self.close, self.caller = status, reason, close, caller


def check_jpeg(frame: bytes, index: int) -> None:
    """A frame must be a whole JPEG of a sane size (its markers walked, not decoded)."""
    try:
        size = header_size(frame)
        if size is None:
            raise ImageError("not a JPEG")
        check_size(*size)
        check_jpeg_whole(frame)
    except ImageError as exc:
        raise Rejection(400, f"frame {index}: {exc}") from None


class Running:
    """A config with the camera keys read under it: swapped whole on a reload, so a request never
    checks a camera against one config and its signature against another's keys."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.keys = CameraKeys(config, store)  # a rotated camera's old key, for its grace


class Ingest:
    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.running = Running(config, store)
        self.store_health = StoreHealth(
            store, config
        )  # free space and integrity: refuse before writing
        self.audit = AccessDB(store.root)  # the access log (audit chain) beside the store

    @property
    def config(self) -> Config:
        return self.running.config

    @property
    def keys(self) -> CameraKeys:
        return self.running.keys

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded config: requests from now on use it (and read secrets afresh)."""
        self.running = Running(config, self.store)
        self.store_health.config = config

    def check_camera(self, camera: str, body_pending: bool, running: Running | None = None) -> None:
        """What can be refused before the body is read: no camera id, or one not in the config."""
        if not camera:
            raise Rejection(401, "missing camera id", close=body_pending)
        if camera not in (running or self.running).config.cameras:
            raise Rejection(403, f"unknown camera {camera!r}", close=body_pending)

    def authenticate(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Caller:
        """The verified caller, or a Rejection naming what failed. `target` is the request's path
        with its query, exactly as sent (it is signed)."""
        running = self.running  # one config for the whole check, even across a reload
        camera = headers.get("x-alpr-camera", "")
        self.check_camera(camera, False, running)
        signature = headers.get("x-alpr-signature", "")
        if not signature:
            raise Rejection(401, "missing signature")
        try:
            timestamp = header_int(headers.get("x-alpr-timestamp", ""))
            sequence = header_int(headers.get("x-alpr-sequence", ""))
        except ValueError:
            raise Rejection(401, "missing or malformed timestamp or sequence") from None

        def sign(key: bytes) -> str:
            return protocol.sign(key, method, target, camera, timestamp, sequence, body)

        try:
            secret = running.keys.verify(camera, signature, sign)
        except ConfigError as exc:
            log.error("camera %s has no usable secret: %s", camera, exc)
            raise Rejection(403, "camera has no usable secret") from None
        if secret is None:
            raise Rejection(401, "bad signature")
        caller = Caller(camera, sequence, secret)
        # From here on the camera is known to be itself: its refusals are signed and carry the
        # gateway's time, so a camera whose clock drifted can set it from a stale refusal.
        if abs(time.time() - timestamp) > running.config.clock_skew_s:
            skew = int(time.time() - timestamp)
            raise Rejection(401, f"stale timestamp ({skew} s off)", caller=caller)
        if sequence < 0:
            raise Rejection(400, "negative sequence", caller=caller)
        if sequence > protocol.MAX_SEQUENCE:
            raise Rejection(400, f"sequence over {protocol.MAX_SEQUENCE}", caller=caller)
        return caller

    def post_event(self, caller: Caller, body: bytes) -> tuple[int, dict[str, Any]]:
        store = self.store
        previous = store.find_event(caller.camera, caller.sequence)
        if previous is not None:
            return self.repeat(caller, previous, body)
        try:
            event = protocol.decode_event(body)
        except protocol.ProtocolError as exc:
            raise Rejection(400, str(exc), caller=caller) from None
        try:
            for i, frame in enumerate(event.frames, 1):
                check_jpeg(frame, i)
        except Rejection as r:
            raise Rejection(r.status, r.reason, caller=caller) from None
        refused = self.store_health.refusal()
        if refused is not None:  # the camera keeps the event and sends it again (PROTOCOL.md)
            raise Rejection(*refused, caller=caller)
        tried_at = time.monotonic()
        try:
            response = store.add_event(caller.camera, caller.sequence, event.meta, body)
        except (OSError, sqlite3.Error) as exc:
            if is_corrupt(exc):
                self.store_health.mark_damaged([str(exc)], "writing an event")
                raise Rejection(503, f"gateway store damaged: {exc}", caller=caller) from None
            if not is_disk_full(exc):
                raise
            raise Rejection(
                507, self.store_health.disk_full(exc, tried_at), caller=caller
            ) from None
        if response is None:  # a concurrent copy of the same request won the race
            again = store.find_event(caller.camera, caller.sequence)
            assert again is not None
            return self.repeat(caller, again, body)
        log.info(
            "event %s camera=%s seq=%d frames=%d",
            response["event"],
            caller.camera,
            caller.sequence,
            len(event.frames),
        )
        return 201, response

    def repeat(self, caller: Caller, previous: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if previous["body_sha256"] != sha256(body):
            raise Rejection(409, "sequence reused with a different body", caller=caller)
        return 200, json.loads(previous["response"])

    def post_heartbeat(self, caller: Caller, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            beat = protocol.loads(body, "heartbeat")
        except protocol.ProtocolError as exc:
            raise Rejection(400, str(exc), caller=caller) from None
        if not isinstance(beat, dict):
            raise Rejection(400, "heartbeat must be a JSON object", caller=caller)
        bad = protocol.non_finite(beat)
        if bad is not None:  # json.loads takes NaN, Infinity and 1e999; they are not JSON
            place, value = bad
            raise Rejection(
                400, f"heartbeat {place!r} must be a finite number, got {value!r}", caller=caller
            )
        for key in HEARTBEAT_NUMBERS:
            number = beat.get(key)
            if number is not None and (
                isinstance(number, bool) or not isinstance(number, int | float)
            ):
                raise Rejection(400, f"heartbeat {key!r} must be a number", caller=caller)
        if (
            self.store_health.damaged
        ):  # a heartbeat is small: it still goes in while the disk is low
            raise Rejection(
                503, f"gateway store damaged: {self.store_health.damaged}", caller=caller
            )
        tried_at = time.monotonic()
        try:
            self.store.add_heartbeat(caller.camera, beat)
        except (OSError, sqlite3.Error) as exc:
            if not is_disk_full(exc):
                raise
            raise Rejection(
                507, self.store_health.disk_full(exc, tried_at), caller=caller
            ) from None
        return 200, {}

    def survey(self, caller: Caller, query: str, client: str) -> tuple[int, dict[str, Any]]:
        """The camera's latest captures (first frame of each), for the technician's site survey.

        Captures are plate data: every answer is written to the access log like any other look.
        """
        try:
            limit = max(1, min(SURVEY_MAX, int(parse_qs(query).get("limit", ["20"])[0])))
        except ValueError:
            raise Rejection(400, "limit must be an integer", caller=caller) from None
        store = self.store
        rows = (
            store.connect()
            .execute(
                "SELECT sequence, path FROM events WHERE camera=? ORDER BY id DESC LIMIT ?",
                (caller.camera, limit),
            )
            .fetchall()
        )
        captures = []
        for row in rows:
            frame = protocol.decode_event(store.event_body(row["path"])).frames[0]
            captures.append({"sequence": row["sequence"], "jpeg": base64.b64encode(frame).decode()})
        self.log_survey(caller.camera, client, query, len(captures), "site survey")
        return 200, {"camera": caller.camera, "captures": captures}

    def log_survey(self, camera: str, client: str, query: str, results: int, reason: str) -> None:
        """One audit record per survey request: a `view` when answered, `denied` when refused."""
        audit.append(
            self.audit,
            f"camera:{camera}",
            "survey",
            kind="denied" if reason.startswith("refused") else "view",
            what={"camera": camera, "query": query},
            why=reason,
            source=client,
            result_count=results,
        )

    def health(self) -> dict[str, Any]:
        """`ok` false while ingest refuses events (a full disk, a damaged store): `store` says why."""
        refused = self.store_health.refusal()
        store = "ok" if refused is None else "damaged" if refused[0] == 503 else "disk full"
        backlog = -1
        if store != "damaged":
            try:
                backlog = self.store.backlog()
            except sqlite3.DatabaseError as exc:
                if not is_corrupt(exc):
                    raise
                self.store_health.mark_damaged([str(exc)], "reading the backlog")
                store = "damaged"
        ok = store == "ok"
        return {"ok": ok, "time": time.time(), "backlog": backlog, "store": store}
