"""What an alert says, the same on every channel: the verification reminder first, then the hit,
then the link to the hit in the web console.

Notices share the outbox: `type` "stale-list" (a hot list past its max age) and "hit-overdue" (a hit
open too long, for managers) carry a `message`, which every rendering puts first.

The payload (JSON) is written to the outbox with the hit; the channels render it as they need:
JSON for webhooks and MQTT, text for mail and the log.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from gateway.hotlist import ALERT_FIELDS, CATEGORIES

VERIFY_REMINDER = (
    "An ALPR alert alone is not grounds for a stop or any enforcement action. Visually confirm that "
    "the plate characters and the state match, and confirm the current status through NCIC or the "
    "state system first."
)
NO_CONSOLE = "not configured"
STATE_DIFFERS = "state differs"


def hit_link(console_url: str | None, hit_id: int) -> str | None:
    """The hit's page in the web console, or None without a configured console."""
    return f"{console_url.rstrip('/')}/hits/{hit_id}" if console_url else None


def build_payload(
    hit_id: int,
    kind: str,
    matched_text: str,
    read: dict[str, Any],
    entry: dict[str, Any],
    console_url: str | None = None,
    state_differs: bool = False,
    reminder: str = VERIFY_REMINDER,
) -> dict[str, Any]:
    """What an officer receives: the reminder first (config `[hits] reminder`), then the read, the
    entry's instructions and its vehicle and subject descriptions.

    When the reader named another state than the entry's, the alert still goes out, marked
    `state differs` (the state guess can be wrong; the officer checks the plate).
    """
    return {
        "reminder": reminder,
        "hit": hit_id,
        "console": hit_link(console_url, hit_id),
        "match_kind": kind,
        "state_differs": state_differs,
        "notes": [STATE_DIFFERS] if state_differs else [],
        "matched_text": matched_text,
        "read": read,
        "entry": {k: entry.get(k) for k in ("id", "source", *ALERT_FIELDS)},
    }


def console_line(payload: dict[str, Any]) -> str:
    """`console: <link>`, or `console: not configured` (also for payloads older than the link)."""
    return f"console: {payload.get('console') or NO_CONSOLE}"


def _when(captured: object) -> str:
    if not isinstance(captured, int | float):
        return "time unknown"
    return dt.datetime.fromtimestamp(captured, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def is_notice(payload: dict[str, Any]) -> bool:
    """A stale list or an overdue hit, rather than a new hit."""
    return payload.get("type", "hit") != "hit"


def vehicle(entry: dict[str, Any]) -> str:
    """Colour, make and type, as far as given."""
    parts = (entry.get(k) for k in ("vehicle_colour", "vehicle_make", "vehicle_type"))
    return " ".join(p for p in parts if p)


def subject(payload: dict[str, Any]) -> str:
    """A short first line (mail subject) that still says to verify before acting."""
    if is_notice(payload):
        return f"ALPR {payload['type']}: {payload['message']}"[:200]
    entry, read = payload["entry"], payload["read"]
    category = CATEGORIES.get(entry["category"], entry["category"])
    return (
        f"ALPR hit {payload['hit']} (verify first): {category} {entry['plate']} "
        f"at {read.get('camera', '?')}"
    )


def summary(payload: dict[str, Any]) -> str:
    """The hit in one line, for the log."""
    if is_notice(payload):
        return f"ALERT {payload['type']}: {payload['message']}"
    entry, read = payload["entry"], payload["read"]
    described = f" [{vehicle(entry)}]" if vehicle(entry) else ""
    return (
        f"ALERT hit {payload['hit']}: {entry['category']} {entry['plate']}{described} "
        f"({payload['match_kind']} match of {payload['matched_text']}"
        f"{', ' + STATE_DIFFERS if payload.get('state_differs') else ''}) "
        f"case {entry['case_number']} at camera {read.get('camera', '?')}"
    )


def text(payload: dict[str, Any]) -> str:
    """The full message as plain text: reminder, hit, entry, instructions, console link."""
    if is_notice(payload) and "entry" not in payload:
        return "\n".join([payload["message"], "", json.dumps(payload, indent=2)]) + "\n"
    entry, read = payload["entry"], payload["read"]
    category = CATEGORIES.get(entry["category"], entry["category"])
    state = f" ({entry['state']})" if entry.get("state") else ""
    lines = [
        *([payload["message"], ""] if is_notice(payload) else []),
        payload["reminder"],
        "",
        f"ALPR hit {payload['hit']}: {category} {entry['plate']}{state}",
        f"read {read.get('text', '?')} ({payload['match_kind']} match of {payload['matched_text']})"
        + (
            f", {STATE_DIFFERS}: read {read.get('state') or '?'}"
            if payload.get("state_differs")
            else ""
        ),
        f"camera {read.get('camera', '?')} at site {read.get('site', '?')}, "
        f"{_when(read.get('captured'))}",
        f"location {read.get('lat', '?')}, {read.get('lon', '?')} heading {read.get('heading', '?')}",
        f"case {entry['case_number']}: {entry['reason']}",
        f"requested by {entry['requested_by']}, contact {entry['contact']}",
        f"instructions: {entry['instructions']}",
        *([f"vehicle: {vehicle(entry)}"] if vehicle(entry) else []),
        *([f"subject: {entry['subject']}"] if entry.get("subject") else []),
        *([f"notes: {entry['notes']}"] if entry.get("notes") else []),
        *([f"alerts only at: {entry['sites']}"] if entry.get("sites") else []),
        f"entered by {entry.get('entered_by') or '?'}, approved by {entry.get('approved_by') or '?'}",
        f"entry expires {entry['expires']}",
        console_line(payload),
    ]
    return "\n".join(lines) + "\n"
