"""The channel interface, and the simplest channel: the service's own log."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from gateway.alert_message import console_line, summary
from gateway.config import AlertTarget, resolve_secret

log = logging.getLogger("alpr.alerts")


class Channel:
    """One way of delivering alerts; `send` returns once delivered and raises otherwise."""

    wants_health: ClassVar[bool] = False  # also publishes camera heartbeats (MQTT)

    def __init__(self, target: AlertTarget, key: str, timeout_s: float) -> None:
        self.target, self.key, self.timeout_s = target, key, timeout_s

    def send(self, payload: dict[str, Any], body: str) -> None:
        """Deliver one alert: `payload` parsed, `body` the exact JSON text from the outbox."""
        raise NotImplementedError

    def health(self, camera: str, status: dict[str, Any]) -> None:
        """Publish a camera's latest heartbeat (only where `wants_health`)."""

    def close(self) -> None:
        """Drop any open connection; the next delivery opens a new one."""

    def password(self) -> str | None:
        """The configured password, read at each connection: it may have been rotated."""
        ref = self.target.password_ref
        return None if ref is None else resolve_secret(ref, f"{self.key}.password").decode()


class LogChannel(Channel):
    def send(self, payload: dict[str, Any], body: str) -> None:
        reminder = payload.get("reminder", "")  # a stale-list notice has none
        log.warning("%s %s. %s", reminder, summary(payload), console_line(payload))
