"""Webhook alerts are signed (HMAC-SHA256 over timestamp and body) and go only to https or loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from gateway_helpers import write_config, write_secret

from gateway.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER, AlertDispatcher, verify_webhook
from gateway.config import ConfigError, load
from gateway.store import Store

HOOK_SECRET = "hook-secret-4f1c"


@contextmanager
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A real HTTP server on loopback that keeps each request's headers (lower case) and body."""
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


def hook_config(tmp: Path, url: str, secret: str = 'secret = "file:hook.key"\n') -> Path:
    write_secret(tmp, "hook.key", HOOK_SECRET)
    return write_config(tmp, extra=f'\n[[alerts]]\nkind = "webhook"\nurl = "{url}"\n{secret}')


def test_webhook_request_is_signed_and_verifies(tmp_path: Path) -> None:
    with receiver() as (url, got):
        config = load(hook_config(tmp_path, url))
        dispatcher = AlertDispatcher(Store(tmp_path / "data"), config.alerts, threading.Event())
        payload = json.dumps({"hit": 1, "reminder": "confirm first"})
        dispatcher.send(config.alerts[0], payload)
    assert len(got) == 1
    headers, body = got[0]
    assert body == payload.encode()
    stamp = headers[TIMESTAMP_HEADER.lower()]
    signature = headers[SIGNATURE_HEADER.lower()]
    mac = hmac.new(HOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    assert signature == f"sha256={mac.hexdigest()}"
    assert verify_webhook(HOOK_SECRET.encode(), stamp, signature, body)
    assert not verify_webhook(b"wrong-secret", stamp, signature, body)
    assert not verify_webhook(HOOK_SECRET.encode(), stamp, signature, body + b" ")
    assert not verify_webhook(HOOK_SECRET.encode(), str(int(stamp) - 1), signature, body)
    assert not verify_webhook(HOOK_SECRET.encode(), stamp, signature, body, now=int(stamp) + 3600)


@pytest.mark.parametrize(
    "url", ["https://dispatch.example/alpr", "http://localhost:9/x", "http://[::1]:9/x"]
)
def test_https_or_loopback_webhook_is_accepted(tmp_path: Path, url: str) -> None:
    assert load(hook_config(tmp_path, url)).alerts[0].url == url


@pytest.mark.parametrize(
    ("url", "secret", "message"),
    [
        (
            "http://dispatch.example/alpr",
            None,
            "alerts[0].url: http:// is allowed only on loopback",
        ),
        ("http://10.0.0.5/alpr", None, "alerts[0].url: http:// is allowed only on loopback"),
        ("ftp://dispatch.example/", None, "alerts[0].url: a webhook needs an https:// URL"),
        ("https://dispatch.example/alpr", "", "alerts[0].secret: a webhook needs a secret"),
    ],
)
def test_webhook_without_https_or_secret_is_refused(
    tmp_path: Path, url: str, secret: str | None, message: str
) -> None:
    path = hook_config(tmp_path, url) if secret is None else hook_config(tmp_path, url, secret)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert message in str(info.value)
