"""A fault-injecting HTTP proxy for S3, on loopback, in front of a real S3 server.

It forwards each request unchanged (the Host header too, so SigV4 signatures still verify) and, while
faults are on, answers some of them badly: a 5xx before or after the request reached the server,
a slow answer, a connection dropped mid-request or mid-response, or a PUT answer with a wrong ETag.
The "after" faults are the hard ones: the object landed, but the client is told it did not.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import socketserver
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

log = logging.getLogger("alpr.faults.proxy")

# each fault and what the client sees
FAULTS = {
    "503_before": "503 SlowDown; the request never reached S3",
    "500_after": "500 InternalError although the request was applied",
    "slow": "the answer delayed",
    "drop_request": "connection closed halfway through the request body",
    "drop_response": "connection closed halfway through the answer (the request was applied)",
    "wrong_etag": "PUT answered 200 with an ETag that is not the object's MD5",
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "expect", "te"}


@dataclass
class FaultPlan:
    """Which faults to inject and how often: each request, while on, gets at most one."""

    rate: float = 0.3  # share of requests that get a fault
    kinds: tuple[str, ...] = tuple(FAULTS)
    slow_s: tuple[float, float] = (0.2, 1.5)
    seed: int = 0
    on: bool = False
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.lock = threading.Lock()

    def pick(self, method: str) -> str | None:
        with self.lock:
            self.requests += 1
            if not self.on or self.rng.random() >= self.rate:
                return None
            kinds = [k for k in self.kinds if k != "wrong_etag" or method == "PUT"]
            kind = self.rng.choice(kinds)
            self.injected[kind] += 1
            return kind

    def delay(self) -> float:
        with self.lock:
            return self.rng.uniform(*self.slow_s)


class _Dropped(Exception):
    """The proxy closed the client's connection on purpose."""


def _error_xml(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>fault</RequestId></Error>"
    ).encode()


class _Handler(socketserver.StreamRequestHandler):
    server: FaultProxy

    def handle(self) -> None:
        upstream: http.client.HTTPConnection | None = None
        try:
            while True:
                request = self._read_request()
                if request is None:
                    return
                method, target, headers, body, kind = request
                if kind == "503_before":
                    self._answer(503, [], _error_xml("SlowDown", "injected fault"))
                    continue
                if kind == "slow":
                    time.sleep(self.server.plan.delay())
                upstream, status, resp_headers, resp_body = self._forward(
                    upstream, method, target, headers, body
                )
                if kind == "500_after":
                    self._answer(500, [], _error_xml("InternalError", "injected fault"))
                elif kind == "drop_response":
                    raw = self._serialise(status, resp_headers, resp_body, method == "HEAD")
                    self.wfile.write(raw[: len(raw) // 2])
                    self.wfile.flush()
                    raise _Dropped
                else:
                    if kind == "wrong_etag":
                        resp_headers = [
                            (k, '"00000000000000000000000000000000"' if k.lower() == "etag" else v)
                            for k, v in resp_headers
                        ]
                    self._answer(status, resp_headers, resp_body, method == "HEAD")
        except (_Dropped, OSError, http.client.HTTPException, ValueError):
            return
        finally:
            if upstream is not None:
                upstream.close()

    def _read_request(self) -> tuple[str, str, list[tuple[str, str]], bytes, str | None] | None:
        line = self.rfile.readline(65537)
        if not line.strip():
            return None
        method, target, _version = line.decode("latin-1").split()
        headers: list[tuple[str, str]] = []
        while True:
            h = self.rfile.readline(65537).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            name, _, value = h.partition(":")
            headers.append((name.strip(), value.strip()))
        lower = {k.lower(): v for k, v in headers}
        if "chunked" in lower.get("transfer-encoding", "").lower():
            raise ValueError("chunked request bodies are not supported by the fault proxy")
        length = int(lower.get("content-length", "0"))
        kind = self.server.plan.pick(method)
        log.debug("%s %s%s", method, target, f": {kind}" if kind else "")
        if lower.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        if kind == "drop_request":
            self.rfile.read(length // 2)
            raise _Dropped
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            return None
        return method, target, headers, body, kind

    def _forward(
        self,
        conn: http.client.HTTPConnection | None,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> tuple[http.client.HTTPConnection, int, list[tuple[str, str]], bytes]:
        host, port = self.server.upstream
        for attempt in range(2):  # once more on a fresh connection if S3 closed a kept-alive one
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=60)
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    if k.lower() not in HOP_BY_HOP:
                        conn.putheader(k, v)
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                return conn, resp.status, resp.getheaders(), data
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _serialise(
        status: int, headers: list[tuple[str, str]], body: bytes, head: bool = False
    ) -> bytes:
        """The answer as bytes; a HEAD answer keeps the object's Content-Length and has no body."""
        reason = http.client.responses.get(status, "Status")
        drop = HOP_BY_HOP if head else HOP_BY_HOP | {"content-length"}
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in drop]
        if not head:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _answer(
        self, status: int, headers: list[tuple[str, str]], body: bytes, head: bool = False
    ) -> None:
        self.wfile.write(self._serialise(status, headers, body, head))
        self.wfile.flush()


class FaultProxy(socketserver.ThreadingTCPServer):
    """`with FaultProxy(upstream_url, plan) as proxy:` then point the S3 client at `proxy.url`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream_url: str, plan: FaultPlan) -> None:
        parts = urlsplit(upstream_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the fault proxy only fronts a loopback server, not {upstream_url}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.plan = plan
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()
