"""Captures handed from ingest to an idle reader while ingest makes them durable.

Ingest offers a checked, authenticated capture just before its fsyncs and commit; an idle reader
thread reads it meanwhile, so the reading overlaps the disk writes instead of following them.
Nothing read early is written anywhere: the result waits here, in memory, until the reader claims
the committed event (same camera, sequence and body digest) and records it as usual. A capture that
ingest then refuses (full disk, a race with a copy) is simply never claimed, and is dropped when
newer offers push it out or it grows old. A busy reader takes no offers: the backlog comes first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, int, str]  # camera, sequence, SHA-256 of the body
MAX_ITEMS = 8  # offers kept at once; older ones are dropped (their events are read from disk)
MAX_AGE_S = 30.0  # an offer no reader took within this is dropped
WAIT_S = 10.0  # a claimer waits this long for a read already under way in another thread


@dataclass
class Offer:
    camera: str
    frames: list[bytes] | None  # dropped once read, to free the memory
    offered: float = field(default_factory=time.monotonic)
    taken: bool = False
    result: Any = None  # what the reader found (pipeline.BestRead or None)
    seconds: float = 0.0  # the reader's own time on it
    failed: bool = False  # the early read raised: the claimer reads from disk
    ready: threading.Event = field(default_factory=threading.Event)


class EarlyReads:
    def __init__(self, wake: Any) -> None:
        self.wake = wake  # the store's new_events Wakeup: an idle reader sees the offer at once
        self.lock = threading.Lock()
        self.offers: OrderedDict[Key, Offer] = OrderedDict()
        self.enabled = True

    def offer(self, key: Key, frames: list[bytes]) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.offers[key] = Offer(key[0], frames)
            while len(self.offers) > MAX_ITEMS:
                self.offers.popitem(last=False)
        self.wake.notify()

    def take(self) -> tuple[Key, Offer] | None:
        """The oldest offer no reader has taken yet (stale ones are dropped on the way)."""
        now = time.monotonic()
        with self.lock:
            for key, item in list(self.offers.items()):
                if now - item.offered > MAX_AGE_S:
                    del self.offers[key]
                elif not item.taken:
                    item.taken = True
                    return key, item
        return None

    def done(self, item: Offer, result: Any, seconds: float, failed: bool = False) -> None:
        item.result, item.seconds, item.failed, item.frames = result, seconds, failed, None
        item.ready.set()

    def claim(self, key: Key) -> Offer | None:
        """The finished early read of this committed event, or None to read it from disk."""
        with self.lock:
            item = self.offers.pop(key, None)
        if item is None or not item.taken:
            return None
        return item if item.ready.wait(WAIT_S) and not item.failed else None
