"""HTTPS on the camera listener: `tls_cert` and `tls_key` in [gateway], a signed event over TLS."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from gateway_helpers import SECRET, jpeg, serve_ingest, write_config

from gateway import protocol
from gateway.config import load


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made here: with `cryptography` if present, else openssl."""
    cert, key = folder / "gateway.crt", folder / "gateway.key"
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def test_signed_event_posts_over_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = load(
        write_config(tmp_path, gateway=f'tls_cert = "{cert.name}"\ntls_key = "{key.name}"')
    )
    with serve_ingest(config) as (url, _store):
        assert url.startswith("https://")
        host, port = url.removeprefix("https://").rsplit(":", 1)
        body = protocol.encode_event(
            {"captured": time.time(), "trigger": "beam", "battery_v": 3.9, "solar_v": 5.0},
            [jpeg(4)],
        )
        headers = protocol.signed_headers(
            SECRET.encode(), protocol.EVENT_PATH, "cam-01", int(time.time()), 1, body
        )
        context = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
        conn.request("POST", protocol.EVENT_PATH, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 201, answer
        assert json.loads(answer)["frames"] == 1
        expected = protocol.sign_response(SECRET.encode(), 201, "cam-01", 1, answer)
        assert response.getheader("X-ALPR-Signature") == expected
        conn.close()
        # plain HTTP on the TLS port gets no answer from the camera API
        plain = http.client.HTTPConnection(host, int(port), timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.request("POST", protocol.EVENT_PATH, body=body, headers=headers)
            plain.getresponse().read()
        plain.close()
