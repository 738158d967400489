"""Refresh schedules of hot-list feeds: `daily HH:MM` (the gateway's local time) or `every N[m|h]`.

A schedule only answers whether a run is due since the last one, so a gateway that was down at
04:00 re-imports as soon as it is back, once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

DAILY_RE = re.compile(r"^daily\s+([01]?\d|2[0-3]):([0-5]\d)$")
EVERY_RE = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*(m|min|h|hours?)$")


@dataclass(frozen=True)
class Schedule:
    text: str
    daily: tuple[int, int] | None = None  # (hour, minute), local time
    interval_s: float | None = None

    def due(self, last: float | None, now: float) -> bool:
        """Whether a run is due at `now` when the last one was at `last` (None: never)."""
        if last is None:
            return True
        if self.interval_s is not None:
            return now - last >= self.interval_s
        assert self.daily is not None
        after = dt.datetime.fromtimestamp(last)
        slot = after.replace(hour=self.daily[0], minute=self.daily[1], second=0, microsecond=0)
        if slot <= after:
            slot += dt.timedelta(days=1)
        return now >= slot.timestamp()


def parse_schedule(text: str) -> Schedule:
    """`daily 04:00` or `every 6h` / `every 30m`; ValueError names the expected forms."""
    value = " ".join(text.strip().lower().split())
    daily = DAILY_RE.match(value)
    if daily:
        return Schedule(text, daily=(int(daily[1]), int(daily[2])))
    every = EVERY_RE.match(value)
    if every:
        seconds = float(every[1]) * (60 if every[2].startswith("m") else 3600)
        if seconds < 60:
            raise ValueError(f"{text!r}: refresh at most once a minute")
        return Schedule(text, interval_s=seconds)
    raise ValueError(f"expected 'daily HH:MM' or 'every N h' / 'every N m', got {text!r}")
