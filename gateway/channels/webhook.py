"""Webhooks: the payload JSON as sent to the outbox, POSTed and signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.request
from typing import Any

from gateway.channels.base import Channel
from gateway.config import resolve_secret

TIMESTAMP_HEADER = "X-ALPR-Timestamp"
SIGNATURE_HEADER = "X-ALPR-Signature"


def sign_webhook(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-ALPR-Signature value: `sha256=` and the HMAC-SHA256 of `"<timestamp>." + body`."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_webhook(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    max_age_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature over timestamp and body, and a recent timestamp."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > max_age_s:
        return False  # an old request replayed
    return hmac.compare_digest(sign_webhook(secret, int(timestamp), body), signature)


class WebhookChannel(Channel):
    def send(self, payload: dict[str, Any], body: str) -> None:
        """POST the stored JSON, signed (X-ALPR-Timestamp, X-ALPR-Signature)."""
        if self.target.secret_ref is None:
            raise RuntimeError(f"{self.key}: a webhook without a secret is never sent unsigned")
        # read at each request: the secret may have been rotated
        secret = resolve_secret(self.target.secret_ref, f"{self.key}.secret")
        data = body.encode()
        timestamp = int(time.time())
        request = urllib.request.Request(
            self.target.url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign_webhook(secret, timestamp, data),
            },
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered {response.status}")
