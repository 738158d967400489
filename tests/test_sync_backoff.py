"""The sync worker backs off only while nothing gets through (found by the S3 fault row)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from gateway_helpers import load_config
from sync_helpers import make_read

from cloud.storage import FileTarget, StorageError
from gateway.store import Store
from gateway.sync import Syncer, SyncWorker


class FlakyFolder(FileTarget):
    """A real folder target whose every `every`-th PUT of a best frame fails, as a flaky link
    would (the index batches always land, so that each pass's progress is counted)."""

    def __init__(self, root: Path, every: int) -> None:
        super().__init__(root)
        self.every, self.puts = every, 0

    def put(self, key: str, data: bytes, *args: Any, **kw: Any) -> None:
        self.puts += key.endswith(".jpg")
        if key.endswith(".jpg") and self.puts % self.every == 0:
            raise StorageError(f"injected failure of PUT {key}")
        super().put(key, data, *args, **kw)


def waits(tmp: Path, every: int, reads: int, max_waits: int) -> tuple[list[float], Store]:
    """Run the worker on real reads; return the waits it asked for, stopping at the first idle
    wait (the queue is empty) or after max_waits."""
    config = load_config(tmp)
    store = Store(config.data_dir)
    for i in range(reads):
        make_read(store, seed=i)
    stop = threading.Event()
    waited: list[float] = []

    class Recording(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waited.append(timeout or 0.0)
            if timeout == 0.01 or len(waited) >= max_waits:
                stop.set()
            return stop.is_set()

        def is_set(self) -> bool:
            return stop.is_set()

    syncer = Syncer(config, store, FlakyFolder(tmp / "bucket", every))
    SyncWorker(syncer, Recording(), idle_s=0.01, purge_every_s=1e9).run()
    return waited, store


def test_passes_that_sync_despite_failures_go_on_at_once(tmp_path: Path) -> None:
    waited, store = waits(tmp_path, every=5, reads=12, max_waits=10)
    assert waited == [0.01], "no back-off while reads get through; then the queue is empty"
    assert (
        store.connect().execute("SELECT count(*) FROM reads WHERE synced_at IS NULL").fetchone()[0]
        == 0
    )


def test_passes_that_get_nothing_through_back_off_more_and_more(tmp_path: Path) -> None:
    waited, _ = waits(tmp_path, every=1, reads=2, max_waits=4)
    assert len(waited) == 4 and waited[3] >= 8 and waited[3] > 2 * waited[0]
