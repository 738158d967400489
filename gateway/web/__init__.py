"""The gateway's HTTP side: one FastAPI app (app.py) of routers, served by uvicorn (server.py) under
the limits of limits.py. `camera_server` is the listener the cameras post to."""

from __future__ import annotations

from gateway.config import Config
from gateway.store import Store
from gateway.web.app import create_app
from gateway.web.limits import Limits
from gateway.web.server import WebServer


def camera_server(config: Config, store: Store) -> WebServer:
    """The camera listener (`[gateway] listen`), bound but not started."""
    limits = Limits(config.header_timeout_s, config.request_timeout_s, config.max_connections)
    return WebServer(
        create_app(config, store),
        config.listen_host,
        config.listen_port,
        limits,
        config.keepalive_timeout_s,
        config.tls_cert,
        config.tls_key,
        name="ingest",
    )
