"""What an alert says, the same on every channel: the verification reminder first, then the hit,
then the link to the hit in the web console.

The payload (JSON) is written to the outbox with the hit; the channels render it as they need:
JSON for webhooks and MQTT, text for mail and the log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.hotlist import CATEGORIES, ENTRY_FIELDS

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
) -> dict[str, Any]:
    """What an officer receives: the reminder first, then the read and the entry's instructions.

    When the reader named another state than the entry's, the alert still goes out, marked
    `state differs` (the state guess can be wrong; the officer checks the plate).
    """
    return {
        "reminder": VERIFY_REMINDER,
        "hit": hit_id,
        "console": hit_link(console_url, hit_id),
        "match_kind": kind,
        "state_differs": state_differs,
        "notes": [STATE_DIFFERS] if state_differs else [],
        "matched_text": matched_text,
        "read": read,
        "entry": {k: entry[k] for k in ("id", "source", *ENTRY_FIELDS)},
    }


def console_line(payload: dict[str, Any]) -> str:
    """`console: <link>`, or `console: not configured` (also for payloads older than the link)."""
    return f"console: {payload.get('console') or NO_CONSOLE}"


def _when(captured: object) -> str:
    if not isinstance(captured, int | float):
        return "time unknown"
    return dt.datetime.fromtimestamp(captured, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def subject(payload: dict[str, Any]) -> str:
    """A short first line (mail subject) that still says to verify before acting."""
    entry, read = payload["entry"], payload["read"]
    category = CATEGORIES.get(entry["category"], entry["category"])
    return (
        f"ALPR hit {payload['hit']} (verify first): {category} {entry['plate']} "
        f"at {read.get('camera', '?')}"
    )


def summary(payload: dict[str, Any]) -> str:
    """The hit in one line, for the log."""
    entry, read = payload["entry"], payload["read"]
    return (
        f"ALERT hit {payload['hit']}: {entry['category']} {entry['plate']} "
        f"({payload['match_kind']} match of {payload['matched_text']}"
        f"{', ' + STATE_DIFFERS if payload.get('state_differs') else ''}) "
        f"case {entry['case_number']} at camera {read.get('camera', '?')}"
    )


def text(payload: dict[str, Any]) -> str:
    """The full message as plain text: reminder, hit, entry, instructions, console link."""
    entry, read = payload["entry"], payload["read"]
    category = CATEGORIES.get(entry["category"], entry["category"])
    state = f" ({entry['state']})" if entry.get("state") else ""
    lines = [
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
        f"entry expires {entry['expires']}",
        console_line(payload),
    ]
    return "\n".join(lines) + "\n"
