"""Reading a capture while ingest makes it durable.

Ingest offers a new event's frames to the readers just before its fsyncs and commit. An idle reader
reads them at once and keeps the result under (camera, sequence); the reader that later claims the
committed event takes that result, after checking the body's digest, instead of reading the stored
body again. So the reading overlaps the camera's upload answer and the durability work, and an alert
follows the commit by the time it takes to record the read.

Nothing is recorded, matched into a hit or alerted before the commit: an event that never commits
leaves only an unused result, dropped when newer ones push it out. Offers are few and dropped when
no reader takes them (a backlog, or readers in another process): then readers work from the store
as they always do.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

PENDING = 2  # offers waiting for an idle reader; older ones are dropped
STALE_S = 2.0  # an offer not taken by then is left to the store: its commit is long done
KEPT = 32  # results waiting for their commit; older ones are dropped


@dataclass(frozen=True)
class Offer:
    camera: str
    sequence: int
    body: bytes
    frames: list[bytes]
    at: float


@dataclass
class Early:
    """One early reading: `camera` is the config object it was read under, `found` its result
    (None: no plate), `seconds` the reader's own time on it; `ok` is False when reading failed."""

    digest: str
    camera: Any = None
    found: Any = None
    seconds: float = 0.0
    ok: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class EarlyReads:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offers: deque[Offer] = deque(maxlen=PENDING)
        self._results: OrderedDict[tuple[str, int], Early] = OrderedDict()

    def offer(self, camera: str, sequence: int, body: bytes, frames: list[bytes]) -> None:
        with self._lock:
            self._offers.append(Offer(camera, sequence, body, frames, time.monotonic()))

    def take(self) -> tuple[Offer, Early] | None:
        """The oldest offer, with the slot its result goes into (claimable while being read)."""
        with self._lock:
            while self._offers and time.monotonic() - self._offers[0].at > STALE_S:
                self._offers.popleft()
            if not self._offers:
                return None
            offer = self._offers.popleft()
        early = Early(hashlib.sha256(offer.body).hexdigest())
        with self._lock:
            self._results[(offer.camera, offer.sequence)] = early
            while len(self._results) > KEPT:
                _, dropped = self._results.popitem(last=False)
                dropped.done.set()
        return offer, early

    def claim(self, camera: str, sequence: int, digest: str, wait_s: float) -> Early | None:
        """The early result for a committed event, waiting up to `wait_s` for one being read;
        None when there is none, it failed, or it was read from another body."""
        with self._lock:
            early = self._results.pop((camera, sequence), None)
        if early is None or not early.done.wait(wait_s):
            return None
        if not early.ok or early.digest != digest:
            return None
        return early
