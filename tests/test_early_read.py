"""Readers start on a capture while ingest makes it durable, but record nothing before its commit."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from gateway_helpers import scene_jpeg

import gateway.store as store_module
from gateway.early_read import EarlyReads
from tools.demo import hotlist_csv, running_gateway, wait_until
from tools.field.camera_sim import CameraClient


def test_an_early_result_is_claimed_only_for_the_same_body() -> None:
    early = EarlyReads()
    early.offer("cam-01", 7, b"body one", [b"frame"])
    taken = early.take()
    assert taken is not None
    offer, slot = taken
    assert offer.sequence == 7 and early.take() is None
    slot.found, slot.ok = "a read", True
    slot.done.set()
    # the stored body differs (a camera reused the sequence with another capture): read it anew
    assert early.claim("cam-01", 7, hashlib.sha256(b"body two").hexdigest(), 0) is None
    early.offer("cam-01", 8, b"body one", [b"frame"])
    _, slot = early.take() or (None, None)
    assert slot is not None
    slot.found, slot.ok = "a read", True
    slot.done.set()
    claimed = early.claim("cam-01", 8, hashlib.sha256(b"body one").hexdigest(), 0)
    assert claimed is not None and claimed.found == "a read"
    assert early.claim("cam-01", 8, hashlib.sha256(b"body one").hexdigest(), 0) is None  # once


def test_a_failed_or_stale_early_reading_is_not_used() -> None:
    early = EarlyReads()
    early.offer("cam-01", 1, b"x", [])
    _, slot = early.take() or (None, None)
    assert slot is not None
    slot.done.set()  # the reader failed: ok stays False
    assert early.claim("cam-01", 1, hashlib.sha256(b"x").hexdigest(), 0) is None
    early.offer("cam-01", 2, b"x", [])
    early._offers[0] = early._offers[0].__class__("cam-01", 2, b"x", [], time.monotonic() - 60)
    assert early.take() is None  # its commit is long done: the store has it


def test_the_gateway_reads_early_and_records_only_committed_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    durable = store_module.fsync_write

    def slow_disk(path: Path, data: bytes) -> None:
        """A disk slower than the reader's wake-up, so that the early reading always starts first
        (on a busy machine the commit can otherwise win, and the stored copy is read instead)."""
        wait_until(lambda: bool(gw.store.early._results), 10)
        durable(path, data)

    monkeypatch.setattr(store_module, "fsync_write", slow_disk)
    with running_gateway(tmp_path / "gw", hotlist_csv(["KXR482", "BQT730"])) as (gw, sink):
        camera = next(iter(gw.config.cameras))
        # an offer whose event never commits (the gateway died before its fsync, say)
        gw.store.offer_early(camera, 99, b"never stored", [scene_jpeg("BQT730", seed=2)])
        assert wait_until(lambda: not gw.store.early._offers, 30)
        gw.store.early._results.clear()
        client = CameraClient(gw.url, camera, gw.config.secret(camera))
        status, _ = client.send_event(1, [scene_jpeg("KXR482", seed=1)])
        client.close()
        assert status == 201
        assert wait_until(lambda: len(sink.arrivals) == 1, 60)
        time.sleep(0.5)
        db = gw.store.connect()
        reads = [r[0] for r in db.execute("SELECT text FROM reads")]
        assert reads == ["KXR482"], "a capture that never committed was recorded"
        assert [a[1]["read"]["text"] for a in sink.arrivals] == ["KXR482"]
        # the committed capture was read before its commit, and that reading was used
        early_s = {e: s for w in gw.workers for e, s in w.early_used}
        assert early_s and all(s > 0 for s in early_s.values())


def test_claim_waits_for_a_reading_in_progress() -> None:
    early = EarlyReads()
    early.offer("cam-01", 3, b"b", [])
    _, slot = early.take() or (None, None)
    assert slot is not None

    def finish() -> None:
        time.sleep(0.05)
        slot.found, slot.ok = "late read", True
        slot.done.set()

    threading.Thread(target=finish).start()
    claimed = early.claim("cam-01", 3, hashlib.sha256(b"b").hexdigest(), 30)
    assert claimed is not None and claimed.found == "late read"
