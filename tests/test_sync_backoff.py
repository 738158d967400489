"""The sync worker backs off only while nothing gets through (found by the S3 fault row)."""

from __future__ import annotations

import threading
from typing import Any

from gateway.sync import SyncStats, SyncWorker


class Passes:
    """Stands in for the Syncer: hands out the given pass results, then stops the worker."""

    def __init__(self, results: list[SyncStats], stop: threading.Event) -> None:
        self.results, self.stop = results, stop

    def sync_once(self) -> SyncStats:
        if not self.results:
            self.stop.set()
            return SyncStats()
        return self.results.pop(0)

    def bound_queue(self) -> None:
        pass

    def purge(self) -> int:
        return 0


def waits(results: list[SyncStats]) -> list[float]:
    stop = threading.Event()
    waited: list[float] = []

    class Recording(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waited.append(timeout or 0.0)
            return stop.is_set()

        def is_set(self) -> bool:
            return stop.is_set()

    syncer: Any = Passes(results, stop)
    SyncWorker(syncer, Recording(), idle_s=0.01).run()
    return waited


def test_passes_that_sync_despite_failures_go_on_at_once() -> None:
    flaky = [SyncStats(synced=150, failures=3) for _ in range(8)]
    assert waits(flaky) == [0.01], "no back-off while reads get through"


def test_passes_that_get_nothing_through_back_off_more_and_more() -> None:
    waited = waits([SyncStats(failures=1) for _ in range(4)])
    assert len(waited) == 5 and waited[3] > waited[0] * 2 and waited[3] >= 8
