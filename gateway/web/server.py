"""One listener: an ASGI app on uvicorn, in a thread of its own, with the limits of gateway/web/limits.py.

The socket is bound when the server is made, so its address (port 0 picks a free one) is known
before it starts, and a port already in use fails at once.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from gateway.config import ConfigError
from gateway.web.limits import LimitedH11Protocol, Limits

log = logging.getLogger("alpr.web")
START_TIMEOUT_S = 30.0


def bind(host: str, port: int, backlog: int = 128) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class WebServer:
    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        limits: Limits,
        keepalive_timeout_s: float = 5.0,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        name: str = "web",
        table: str = "gateway",
    ) -> None:
        self.name = name
        self.app = app
        self.tls = tls_cert is not None
        protocol = type("GatewayH11Protocol", (LimitedH11Protocol,), {"limits": limits})
        self.config = uvicorn.Config(
            app,
            http=protocol,
            lifespan="off",
            loop="auto",  # uvloop where installed: about a fifth less CPU per request
            log_config=None,
            access_log=False,
            proxy_headers=False,  # the peer address is the camera's, not a header's claim
            server_header=False,
            timeout_keep_alive=int(max(1, round(keepalive_timeout_s))),
            timeout_graceful_shutdown=5,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
        try:
            self.config.load()  # a certificate that does not load fails here, not in the thread
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{table}.tls_cert/tls_key: cannot load: {exc}") from None
        self.sock = bind(host, port)
        self.server = uvicorn.Server(self.config)
        self.thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve in this thread until shutdown() (or, in the main thread, SIGINT/SIGTERM)."""
        self.server.run(sockets=[self.sock])

    def start(self) -> None:
        """Serve in a thread; returns once the server accepts connections."""
        self.thread = threading.Thread(target=self.serve_forever, name=self.name, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the HTTP server did not start")
            time.sleep(0.005)

    def shutdown(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()
