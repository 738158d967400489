"""Alert channels: each renders a stored payload and delivers it one way, raising on failure.

The dispatcher gives every configured target its own channel and its own thread, so a channel
that hangs or fails waits alone; a failure raises and the outbox retries that (alert, target).
"""

from __future__ import annotations

from gateway.channels.base import Channel, LogChannel
from gateway.config import AlertTarget

__all__ = ["Channel", "LogChannel", "open_channel"]


def open_channel(target: AlertTarget, key: str, timeout_s: float) -> Channel:
    """The channel for a target; nothing connects until the first delivery."""
    if target.kind == "log":
        return LogChannel(target, key, timeout_s)
    if target.kind == "webhook":
        from gateway.channels.webhook import WebhookChannel

        return WebhookChannel(target, key, timeout_s)
    if target.kind == "mqtt":
        from gateway.channels.mqtt import MqttChannel

        return MqttChannel(target, key, timeout_s)
    if target.kind == "email":
        from gateway.channels.smtp import EmailChannel

        return EmailChannel(target, key, timeout_s)
    raise ValueError(f"{key}: unknown alert kind {target.kind!r}")
