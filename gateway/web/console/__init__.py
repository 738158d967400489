"""The officers' console: pages and a JSON API on a listener of their own (`[console] listen`),
so that nothing of it is reachable from the cameras' network."""

from __future__ import annotations

from typing import Any

from gateway.config import Config
from gateway.store import Store
from gateway.web.console.app import create_console_app
from gateway.web.limits import Limits
from gateway.web.server import WebServer


def console_server(config: Config, store: Store, target: Any = None) -> WebServer | None:
    """The console's listener, bound but not started; None when `[console] listen` is not set."""
    c = config.console
    if c.listen is None:
        return None
    host, _, port = c.listen.rpartition(":")
    limits = Limits(config.header_timeout_s, config.request_timeout_s, config.max_connections)
    return WebServer(
        create_console_app(config, store, target=target),
        host,
        int(port),
        limits,
        config.keepalive_timeout_s,
        c.tls_cert,
        c.tls_key,
        name="console",
        table="console",
    )
