"""An idle reader reads a capture while ingest makes it durable (gateway/early_reads.py), and
records nothing until the event is committed: a capture ingest then refuses is never recorded,
and an early read never stands in for another body under the same sequence."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import scene_jpeg

import gateway.store as store_module
from gateway.early_reads import EarlyReads
from gateway.store import Store
from gateway.wakeup import Wakeup
from tools.demo import hotlist_csv, running_gateway, wait_until
from tools.field.camera_sim import CameraClient


def hold_commit_until_read(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ingest's write waits until a reader has finished the early read of what it writes (so the
    test does not depend on which thread the scheduler runs first); returns the log of writes."""
    writes: list[str] = []
    real: Callable[..., Any] = store.add_event

    def add_event(
        camera: str, sequence: int, meta: dict[str, Any], body: bytes, digest: str
    ) -> Any:
        offer = store.early.offers.get((camera, sequence, digest))
        assert offer is not None, "ingest wrote an event it never offered to the readers"
        assert offer.ready.wait(30), "no idle reader took the capture while ingest wrote it"
        writes.append(f"{camera}/{sequence}")
        return real(camera, sequence, meta, body, digest)

    monkeypatch.setattr(store, "add_event", add_event)
    return writes


def test_a_capture_is_read_while_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_gateway(tmp_path / "gw", hotlist_csv(["KXR482"])) as (gateway, sink):
        store = gateway.store
        writes = hold_commit_until_read(store, monkeypatch)

        def no_disk_read(path: str) -> bytes:
            raise AssertionError(f"the reader read {path} from disk: the early read was not used")

        monkeypatch.setattr(store, "event_body", no_disk_read)
        camera = next(iter(gateway.config.cameras))
        client = CameraClient(gateway.url, camera, gateway.config.secret(camera))
        status, _ = client.send_event(1, [scene_jpeg("KXR482", seed=1)])
        client.close()
        assert status == 201 and writes == [f"{camera}/1"]
        assert wait_until(lambda: len(sink.arrivals) == 1, 20), "the early read was never recorded"
        assert sink.arrivals[0][1]["read"]["text"] == "KXR482"
        db = store.connect()
        assert db.execute("SELECT status FROM events").fetchall()[0][0] == "read"
        assert not store.early.offers, "the claimed offer must be dropped"


def test_a_refused_capture_read_early_is_never_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_gateway(tmp_path / "gw", hotlist_csv(["KXR482"])) as (gateway, sink):
        store = gateway.store
        hold_commit_until_read(store, monkeypatch)
        real_write = store_module.fsync_write
        full = [True]

        def fsync_write(path: Path, data: bytes) -> None:
            if full[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            real_write(path, data)

        monkeypatch.setattr(store_module, "fsync_write", fsync_write)
        camera = next(iter(gateway.config.cameras))
        client = CameraClient(gateway.url, camera, gateway.config.secret(camera))
        status, _ = client.send_event(1, [scene_jpeg("KXR482", seed=1)])
        assert status == 507
        time.sleep(1.0)  # time enough to record it, were anything recorded from memory
        db = store.connect()
        assert db.execute("SELECT count(*) FROM reads").fetchone()[0] == 0
        assert hit_alerts(sink) == [] and db.execute("SELECT count(*) FROM hits").fetchone()[0] == 0
        full[0] = False  # space is back: the camera sends it again, and it is read once
        status, _ = client.send_event(1, [scene_jpeg("KXR482", seed=1)])
        client.close()
        assert status == 201
        assert wait_until(lambda: len(hit_alerts(sink)) == 1, 60)
        time.sleep(0.5)
        assert db.execute("SELECT count(*) FROM reads").fetchone()[0] == 1
        assert len(hit_alerts(sink)) == 1


def hit_alerts(sink: Any) -> list[dict[str, Any]]:
    """The hits' alerts (the sink also gets the disk-full and disk-ok notices)."""
    return [payload for _, payload in sink.arrivals if "read" in payload]


def test_an_early_read_only_serves_the_same_body() -> None:
    early = EarlyReads(Wakeup())
    early.offer(("cam-01", 5, "a" * 64), [b"frame"])
    taken = early.take()
    assert taken is not None and early.take() is None, "one reader per offer"
    early.done(taken[1], "read of body a", 0.01)
    assert early.claim(("cam-01", 5, "b" * 64)) is None, "another body under the same sequence"
    got = early.claim(("cam-01", 5, "a" * 64))
    assert got is not None and got.result == "read of body a"
    assert early.claim(("cam-01", 5, "a" * 64)) is None, "claimed once"


def test_a_failed_or_untaken_early_read_falls_back_to_the_disk() -> None:
    early = EarlyReads(Wakeup())
    early.offer(("cam-01", 1, "a" * 64), [b"x"])
    assert early.claim(("cam-01", 1, "a" * 64)) is None  # no reader was idle: read from disk
    early.offer(("cam-01", 2, "a" * 64), [b"x"])
    taken = early.take()
    assert taken is not None
    early.done(taken[1], None, 0.0, failed=True)
    assert early.claim(("cam-01", 2, "a" * 64)) is None
