# The camera side of gateway/PROTOCOL.md: HMAC-SHA256 signing, the event body, and a small
# synchronous HTTP/1.1 client over `socket` (the same code runs on the board, under MicroPython on
# the host, and in CPython tests).
import hashlib
import json
import socket
import struct

try:
    from typing import Any
except ImportError:
    pass

EVENT_PATH = "/v1/events"
HEARTBEAT_PATH = "/v1/heartbeat"
HEALTH_PATH = "/v1/health"
EVENT_TYPE = "application/x-alpr-event"


def _hex(b: bytes) -> str:
    return "".join("%02x" % x for x in b)


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """RFC 2104 by hand: MicroPython has hashlib.sha256 but usually no `hmac` module."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + b"\x00" * (64 - len(key))
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))
    outer.update(inner.digest())
    return outer.digest()


def sign(secret: bytes, method: str, path: str, camera: str, ts: int, seq: int, body: bytes) -> str:
    digest = _hex(hashlib.sha256(body).digest())
    msg = "%s %s\n%s\n%d\n%d\n%s" % (method, path, camera, ts, seq, digest)
    return _hex(hmac_sha256(secret, msg.encode()))


def sign_response(secret: bytes, status: int, camera: str, seq: int, body: bytes) -> str:
    """The gateway's signature of its answer (PROTOCOL.md), twin of gateway.protocol.sign_response."""
    digest = _hex(hashlib.sha256(body).digest())
    msg = "ALPR-RESPONSE\n%d\n%s\n%d\n%s" % (status, camera, seq, digest)
    return _hex(hmac_sha256(secret, msg.encode()))


def same(a: str, b: str) -> bool:
    """Compare two hex digests in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


def encode_event(meta: dict, frames: list) -> bytes:
    """u32 length + JSON meta, then u32 length + JPEG for each frame (big-endian)."""
    meta["frames"] = len(frames)
    m = json.dumps(meta).encode()
    parts = [struct.pack(">I", len(m)), m]
    for f in frames:
        parts.append(struct.pack(">I", len(f)))
        parts.append(f)
    return b"".join(parts)


def split_url(url: str) -> tuple:
    """'http://host:port' -> (host, port); https is not spoken on the site's private network."""
    if not url.startswith("http://"):
        raise ValueError("gateway URL must start with http://")
    hostport = url[7:].split("/", 1)[0]
    if ":" in hostport:
        host, port = hostport.rsplit(":", 1)
        return host, int(port)
    return hostport, 80


def request(
    url: str, method: str, path: str, body: bytes, headers: dict, timeout_s: float
) -> tuple:
    """One request on its own connection: (status, body bytes, X-ALPR-Signature header or None)."""
    host, port = split_url(url)
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout_s)
        s.connect(addr)
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\nContent-Length: %d\r\n" % (
            method, path, host, port, len(body))
        for k in headers:
            head += "%s: %s\r\n" % (k, headers[k])
        try:
            s.sendall(head.encode() + b"\r\n")
            view = memoryview(body)
            for i in range(0, len(body), 4096):  # no second copy of a large body
                s.sendall(view[i:i + 4096])
        except OSError:
            pass  # the gateway may have answered early and closed (a 413): its answer decides
        return _response(s)
    finally:
        s.close()


def _response(s: Any) -> tuple:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(512)
        if not chunk:
            raise OSError(104)  # connection closed before the headers ended
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    length, sig = -1, None
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "x-alpr-signature":
            sig = v.strip()
    while length < 0 or len(rest) < length:
        chunk = s.recv(1024)
        if not chunk:
            break
        rest += chunk
    return status, rest if length < 0 else rest[:length], sig


def post(conf: dict, path: str, body: bytes, seq: int, ctype: str, now: int) -> tuple:
    """A signed POST: (status, parsed JSON answer or {}, True when the answer is signed by the
    gateway with this camera's secret). Only a verified answer may set the clock."""
    secret = conf["secret"].encode()
    headers = {
        "Content-Type": ctype,
        "X-ALPR-Camera": conf["camera"],
        "X-ALPR-Timestamp": str(now),
        "X-ALPR-Sequence": str(seq),
        "X-ALPR-Signature": sign(secret, "POST", path, conf["camera"], now, seq, body),
    }
    status, data, sig = request(conf["gateway"], "POST", path, body, headers, conf["http_timeout_s"])
    verified = sig is not None and same(sig, sign_response(secret, status, conf["camera"], seq, data))
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        answer = {}
    return status, answer if isinstance(answer, dict) else {}, verified
