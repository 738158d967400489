"""uvicorn's HTTP/1.1 protocol with the limits a server facing the street needs.

uvicorn's own keep-alive timeout covers only the idle time between requests, and every byte that
arrives restarts it: a client sending one header byte a second holds a connection for ever, and no
middleware can help, since middleware runs only once the headers are parsed. So the deadlines live
here, in the protocol: from the first byte of a request, its headers must be in within
`header_timeout_s` and its whole body within `request_timeout_s`, or the connection is closed.

Also here: a cap on open connections, 411 for a malformed Content-Length (uvicorn answers a bare 400),
and closing the connection after any answer given before the request's body was read, so that the
unread body is never parsed as the next request.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("alpr.web")


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float = 10.0
    request_timeout_s: float = 30.0
    max_connections: int = 64


class _Connection(h11.Connection):
    """h11's connection, remembering why it refused a request (uvicorn answers every refusal alike)."""

    refusal = ""

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = str(exc)
            raise


class LimitedH11Protocol(H11Protocol):
    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.conn = _Connection(h11.SERVER, size)
        self.header_timer: asyncio.TimerHandle | None = None
        self.request_timer: asyncio.TimerHandle | None = None

    # -- connections ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning(
                "refusing a connection from %s: %d open, the limit is %d",
                self.peer(),
                len(self.connections) - 1,
                self.limits.max_connections,
            )
            self.refuse(503, "too many connections; try again later")

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"

    def refuse(self, status: int, reason: str) -> None:
        """Answer before (or instead of) any request, and close."""
        body = json.dumps({"error": reason}).encode()
        head = (
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.disarm()
        if not self.transport.is_closing():
            self.transport.write(head.encode() + body)
            self.transport.close()

    # -- requests -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if data and self.request_timer is None and self.conn.their_state is h11.IDLE:
            self.arm()  # the first byte of a request starts its clocks
        super().data_received(data)
        self.track()

    def send_400_response(self, msg: str) -> None:
        refusal = getattr(self.conn, "refusal", "")
        log.warning("refused a request from %s: %s", self.peer(), refusal or msg)
        if refusal == "bad Content-Length":
            self.refuse(411, "Content-Length must be a non-negative integer")
        else:
            self.refuse(400, f"malformed HTTP request: {refusal or msg}")

    def on_response_complete(self) -> None:
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            # answered before the body was read: the rest of it must not be read as a request
            self.transport.close()
        super().on_response_complete()
        self.track()

    def arm(self) -> None:
        loop = self.loop
        self.header_timer = loop.call_later(
            self.limits.header_timeout_s, self.expire, "headers", self.limits.header_timeout_s
        )
        self.request_timer = loop.call_later(
            self.limits.request_timeout_s, self.expire, "request", self.limits.request_timeout_s
        )

    def disarm(self, header_only: bool = False) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None
        if not header_only and self.request_timer is not None:
            self.request_timer.cancel()
            self.request_timer = None

    def track(self) -> None:
        """Stop the clocks that the request has beaten; start them for a pipelined next one."""
        state = self.conn.their_state
        if state is h11.IDLE:
            if not self.conn.trailing_data[0]:
                self.disarm()  # idle between requests: uvicorn's keep-alive timeout governs
            elif self.request_timer is None:
                self.arm()
        elif state is h11.SEND_BODY:
            self.disarm(header_only=True)
        else:  # the whole request is in (or the connection is over)
            self.disarm()

    def expire(self, what: str, seconds: float) -> None:
        self.disarm()
        if self.transport.is_closing():
            return
        log.warning(
            "closing the connection from %s: %s not received within %g s",
            self.peer(),
            "headers" if what == "headers" else "the whole request",
            seconds,
        )
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            self.refuse(408, f"request {what} not received within {seconds:g} s")
        else:
            self.transport.close()  # the application holds the request: it sees a disconnect
