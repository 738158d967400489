"""The camera protocol (PROTOCOL.md): request signing and the event body format."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

EVENT_PATH = "/v1/events"
HEARTBEAT_PATH = "/v1/heartbeat"
SURVEY_PATH = "/v1/survey"
HEALTH_PATH = "/v1/health"
EVENT_TYPE = "application/x-alpr-event"
MAX_FRAMES = 16
MAX_SEQUENCE = 2**63 - 1  # the largest SQLite integer
TRIGGERS = ("radar", "pir", "beam", "timer", "manual")


class ProtocolError(ValueError):
    """A request that does not follow PROTOCOL.md; the message says how."""


def string_to_sign(
    method: str, path: str, camera: str, timestamp: int, sequence: int, body: bytes
) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method} {path}\n{camera}\n{timestamp}\n{sequence}\n{digest}".encode()


def sign(
    secret: bytes, method: str, path: str, camera: str, timestamp: int, sequence: int, body: bytes
) -> str:
    msg = string_to_sign(method, path, camera, timestamp, sequence, body)
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def sign_response(secret: bytes, status: int, camera: str, sequence: int, body: bytes) -> str:
    """The signature of the gateway's answer to an authenticated camera request: cameras set their
    clock from an answer only when it verifies, so that no one else on the network can set it."""
    msg = "\n".join(
        ["ALPR-RESPONSE", str(status), camera, str(sequence), hashlib.sha256(body).hexdigest()]
    ).encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def signed_headers(
    secret: bytes,
    path: str,
    camera: str,
    timestamp: int,
    sequence: int,
    body: bytes,
    method: str = "POST",
) -> dict[str, str]:
    """The four X-ALPR-* headers of a signed request."""
    return {
        "X-ALPR-Camera": camera,
        "X-ALPR-Timestamp": str(timestamp),
        "X-ALPR-Sequence": str(sequence),
        "X-ALPR-Signature": sign(secret, method, path, camera, timestamp, sequence, body),
    }


@dataclass(frozen=True)
class Event:
    meta: dict[str, Any]
    frames: list[bytes]


def encode_event(meta: dict[str, Any], frames: list[bytes]) -> bytes:
    meta_bytes = json.dumps({**meta, "frames": len(frames)}, separators=(",", ":")).encode()
    parts = [struct.pack(">I", len(meta_bytes)), meta_bytes]
    for frame in frames:
        parts += [struct.pack(">I", len(frame)), frame]
    return b"".join(parts)


MAX_NUMBER = 2**53  # any metadata number: exact as a float, fits an SQLite integer
MAX_CAPTURED = 2**32  # Unix seconds (year 2106); a time past it cannot be filed by day


def _number(
    meta: dict[str, Any],
    key: str,
    required: bool = True,
    low: float = -MAX_NUMBER,
    high: float = MAX_NUMBER,
) -> None:
    """A finite number within bounds: NaN, infinities or huge values would be stored and then
    break whatever files, sorts or syncs the event later."""
    value = meta.get(key)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"metadata {key!r} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(f"metadata {key!r} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ProtocolError(f"metadata {key!r} must be between {low} and {high}, got {value!r}")


def loads(raw: bytes, what: str) -> Any:
    """JSON from a camera, or a ProtocolError naming `what`: besides malformed text, the standard
    parser raises plain ValueError for an integer past Python's digit limit and RecursionError for
    deep nesting, which would otherwise escape as a crash."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError(f"{what} is nested too deeply") from None
    except ValueError as exc:  # int() of too many digits
        raise ProtocolError(f"{what} has a number too long: {exc}") from None


def non_finite(value: Any) -> tuple[str, float] | None:
    """The first NaN or infinity anywhere in decoded JSON (`1e999` decodes to infinity), with its
    place as dotted keys and indexes; such values are not JSON and would break whoever reads the
    stored copy later. Iterative, as the nesting can be as deep as the parser allowed."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        place, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return place, item
        if isinstance(item, dict):
            stack.extend((f"{place}.{k}" if place else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{place}[{i}]", v) for i, v in enumerate(item))
    return None


def decode_event(body: bytes) -> Event:
    """Split and check an event body; frames are checked to be whole JPEGs, not yet decoded."""
    if len(body) < 4:
        raise ProtocolError("body too short for the metadata length")
    (n,) = struct.unpack(">I", body[:4])
    if n > len(body) - 4:
        raise ProtocolError("metadata length runs past the end of the body")
    meta = loads(body[4 : 4 + n], "metadata")
    if not isinstance(meta, dict):
        raise ProtocolError("metadata must be a JSON object")
    _number(meta, "captured", low=0, high=MAX_CAPTURED)
    for key in ("battery_v", "solar_v"):
        _number(meta, key)
    _number(meta, "awake_ms", required=False)
    if meta.get("trigger") not in TRIGGERS:
        raise ProtocolError(f"metadata 'trigger' must be one of {', '.join(TRIGGERS)}")
    frames: list[bytes] = []
    pos = 4 + n
    while pos < len(body):
        if pos + 4 > len(body):
            raise ProtocolError("truncated frame length")
        (size,) = struct.unpack(">I", body[pos : pos + 4])
        frame = body[pos + 4 : pos + 4 + size]
        if len(frame) != size:
            raise ProtocolError(
                f"frame {len(frames) + 1} is truncated ({len(frame)} of {size} bytes)"
            )
        if not (frame.startswith(b"\xff\xd8") and frame.rstrip(b"\x00").endswith(b"\xff\xd9")):
            raise ProtocolError(f"frame {len(frames) + 1} is not a complete JPEG")
        frames.append(frame)
        pos += 4 + size
    if not 1 <= len(frames) <= MAX_FRAMES:
        raise ProtocolError(f"an event needs 1 to {MAX_FRAMES} frames, got {len(frames)}")
    if meta.get("frames") != len(frames):
        raise ProtocolError(f"metadata says {meta.get('frames')} frames, body has {len(frames)}")
    return Event(meta, frames)
