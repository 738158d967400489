"""Real servers for the alert-channel tests: Debian's mosquitto broker, an aiosmtpd mail server with
STARTTLS under a self-signed certificate made here, and an MQTT subscriber (paho)."""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def mosquitto_binary() -> str:
    """The broker from Debian's `mosquitto` package; the test is skipped (failed with
    MOSQUITTO_REQUIRED=1, as in CI) where it is not installed."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    message = "mosquitto is not installed (apt-get install mosquitto, or `make mosquitto`)"
    if os.environ.get("MOSQUITTO_REQUIRED"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def mosquitto(
    folder: Path,
    port: int | None = None,
    user: tuple[str, str] | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[int]:
    """A broker on loopback (a free port unless given), with a password file when `user` is given
    and TLS only when `tls` (certificate, key) is given."""
    binary = mosquitto_binary()
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    # as root, mosquitto would switch to its own user, who cannot read the test's files
    lines = [f"listener {port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
    if user is None:
        lines.append("allow_anonymous true")
    else:
        passwd = folder / "passwd"
        subprocess.run(
            [
                shutil.which("mosquitto_passwd") or "mosquitto_passwd",
                "-c",
                "-b",
                str(passwd),
                *user,
            ],
            check=True,
            capture_output=True,
        )
        passwd.chmod(0o600)
        lines += ["allow_anonymous false", f"password_file {passwd}"]
    if tls is not None:
        lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
    conf = folder / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    with open(folder / "mosquitto.log", "ab") as log:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
    try:
        if not wait_for(lambda: _accepts(port) or proc.poll() is not None, 10) or proc.poll():
            raise RuntimeError(f"mosquitto did not start: {(folder / 'mosquitto.log').read_text()}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Received:
    topic: str
    payload: dict[str, Any]
    qos: int
    retain: bool


@dataclass
class Subscriber:
    """A paho client subscribed at QoS 1 that keeps every message it receives."""

    port: int
    topic: str
    user: tuple[str, str] | None = None
    ca_file: Path | None = None
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        ready = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if self.user:
            client.username_pw_set(*self.user)
        if self.ca_file:
            client.tls_set(ca_certs=str(self.ca_file))
        client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        client.on_subscribe = lambda *_: ready.set()
        client.on_message = lambda _c, _u, m: self.messages.append(
            Received(m.topic, json.loads(m.payload), m.qos, bool(m.retain))
        )
        client.connect("localhost" if self.ca_file else "127.0.0.1", self.port)
        client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("the test subscriber did not subscribe")
        self.client = client

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key (PEM), for a TLS test server."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    tls: bool
    login: bytes | None


@contextmanager
def smtp_server(
    folder: Path,
    starttls: bool = True,
    user: tuple[str, str] | None = None,
    port: int | None = None,
) -> Iterator[tuple[int, list[Mail]]]:
    """aiosmtpd on loopback; with `starttls` it demands STARTTLS (self-signed cert in `folder`)
    before any mail, and with `user` it demands that login."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    got: list[Mail] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            login = session.auth_data.login if session.auth_data else None
            got.append(
                Mail(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                    session.ssl is not None,
                    login,
                )
            )
            return "250 OK"

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            user is not None
            and isinstance(data, LoginPassword)
            and (data.login, data.password) == (user[0].encode(), user[1].encode())
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    kwargs: dict[str, Any] = {}
    if starttls:
        cert, key = self_signed(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs |= {"tls_context": context, "require_starttls": True}
    if user is not None:
        kwargs |= {"authenticator": authenticator, "auth_required": True}
    controller = Controller(Handler(), hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    try:
        yield controller.port, got
    finally:
        controller.stop()
