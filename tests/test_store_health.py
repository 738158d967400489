"""The store's ground: a disk under the free-space reserve answers 507 and the camera firmware keeps
the event; a damaged SQLite page stops the gateway from starting (or, found by the scheduled check,
stops ingest) with the restore command in the message, and a restore brings the data back."""

from __future__ import annotations

import errno
import importlib
import json
import random
import resource
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from gateway_helpers import SECRET, jpeg, load_config, write_config

from cloud.durable import fsync_write
from gateway import protocol
from gateway.backup import restore
from gateway.config import load
from gateway.ingest import Caller, Ingest, Rejection
from gateway.service import Gateway
from gateway.store import Store, sha256
from gateway.store_health import MB, StoreDamaged, StoreHealth, StoreWatch, free_bytes
from gateway.web import camera_server
from tools.faults.sqlite_pages import corrupt_page

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware"))
import evq
import proto


def firmware_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The firmware's app module under CPython; `machine` (the board) is only a placeholder, as
    delivery never touches the hardware while the clock is right."""
    monkeypatch.setitem(sys.modules, "machine", ModuleType("machine"))
    return importlib.import_module("app")


def queue_event(seq: int) -> None:
    meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
    evq.put(seq, proto.encode_event(meta, [jpeg(seq)]), limit=10)


@pytest.fixture
def camera(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, object], Store, Ingest]]:
    """The firmware's delivery against a real ingest whose reserve is more than the disk has free."""
    reserve_mb = free_bytes(tmp_path) / MB + 1024
    if reserve_mb > 1_000_000:
        pytest.skip("over 1 TB free here: the largest reserve the config allows cannot be reached")
    config = load_config(tmp_path, gateway=f"min_free_mb = {reserve_mb:.0f}")
    monkeypatch.chdir(tmp_path)  # the flash queue folder `q`
    store = Store(config.data_dir)
    server = camera_server(config, store)
    server.start()
    try:
        conf = {"camera": "cam-01", "secret": SECRET, "gateway": server.url, "http_timeout_s": 5}
        yield conf, store, server.config.app.state.ingest  # type: ignore[union-attr]
    finally:
        server.shutdown()


def test_full_disk_answers_507_and_the_camera_keeps_the_event(
    camera: tuple[dict[str, object], Store, Ingest], monkeypatch: pytest.MonkeyPatch
) -> None:
    conf, store, ingest = camera
    app = firmware_app(monkeypatch)
    queue_event(1)
    now = int(time.time())
    status, answer, verified = proto.post(
        conf, proto.EVENT_PATH, evq.get(1), 1, proto.EVENT_TYPE, now
    )
    assert status == 507 and verified and "disk full" in answer["error"], answer
    st: dict[str, int] = {}
    app.flush(conf, st)
    assert evq.seqs() == [1] and not st.get("rejected"), "a 507 must keep the event queued"
    db = store.connect()
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert notices(store) == ["disk-full"], "one alert for the full disk, however many refusals"
    # space comes back (here: the reserve is lowered by a reload): the queued event goes in
    ingest.reconfigure(replace(ingest.config, min_free_mb=0.0))
    app.flush(conf, st)
    assert evq.seqs() == [] and db.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    assert notices(store) == ["disk-full", "disk-ok"]


def test_a_stale_full_reading_does_not_flip_the_state_back(tmp_path: Path) -> None:
    """Under load a request can read a full disk (or fail its write) just before space returns and
    report it after a newer reading found room; applied late, it raised a second disk-full alert
    for one episode. Observations are applied in the order they were made."""
    config = load_config(tmp_path, gateway="min_free_mb = 0")
    store = Store(config.data_dir)
    health = StoreHealth(store, config)
    enospc = OSError(errno.ENOSPC, "No space left on device")
    tried_at = time.monotonic()  # a write begins ...
    assert health.refusal() is None  # ... another request then finds room ...
    health.disk_full(enospc, tried_at)  # ... and the first write's ENOSPC arrives late
    assert notices(store) == [] and health.refusal() is None
    health.disk_full(enospc, time.monotonic())  # a write that fails now: the disk is full
    assert notices(store) == ["disk-full"]
    assert health.refusal() is None  # room again (more than one event's worth)
    assert notices(store) == ["disk-full", "disk-ok"]


def notices(store: Store) -> list[str]:
    rows = store.connect().execute("SELECT payload FROM alerts ORDER BY id")
    return [json.loads(r[0])["type"] for r in rows]


def test_a_write_that_fails_leaves_no_partial_file(tmp_path: Path) -> None:
    """fsync_write removes its temp file when the file system refuses the write (here the file
    size limit, which fails the write as a full disk does)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, old_limit[1]))
    try:
        with pytest.raises(OSError, match="too large"):
            fsync_write(tmp_path / "spool" / "x.evt", b"x" * 10_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert list((tmp_path / "spool").iterdir()) == []


def add_events(store: Store, n: int) -> dict[int, str]:
    """n real events (files and rows); their SHA-256 by sequence."""
    digests = {}
    for seq in range(1, n + 1):
        meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
        body = protocol.encode_event(meta, [jpeg(seq % 7, 32, 24)])
        store.add_event("cam-01", seq, protocol.decode_event(body).meta, body)
        digests[seq] = sha256(body)
    return digests


def stored(store: Store) -> dict[int, str]:
    rows = store.connect().execute("SELECT sequence, body_sha256 FROM events")
    return {int(r[0]): str(r[1]) for r in rows}


def close(store: Store) -> None:
    store.connect().close()
    store._local.db = None


def test_damaged_page_refuses_start_and_a_restore_brings_the_data_back(tmp_path: Path) -> None:
    config = load(write_config(tmp_path))
    store = Store(config.data_dir)
    digests = add_events(store, 150)
    backup = store.backup(config.data_dir / "backups" / "before.db")
    close(store)
    corrupt_page(config.data_dir / "gateway.db", "events", random.Random(1))
    with pytest.raises(StoreDamaged) as refused:
        Gateway(config)
    message = str(refused.value)
    assert (
        "quick_check" in message
        and f"alpr gateway restore --config {config.path} {backup}" in message
    )
    restore(config.data_dir, backup)
    gateway = Gateway(config)  # the check passes
    gateway.start()
    try:
        assert stored(gateway.store) == digests
    finally:
        gateway.shutdown()


def test_scheduled_check_stops_ingest_and_alerts(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, gateway="integrity_check_hours = 0.0001"))
    store = Store(config.data_dir)
    add_events(store, 150)
    close(store)
    gateway = Gateway(config)
    gateway.start()
    try:
        ingest = gateway.ingest
        watch = StoreWatch(ingest.store_health, gateway.stop)
        watch.last_check -= 3600  # due now
        corrupt_page(config.data_dir / "gateway.db", "events", random.Random(2))
        watch.tick()
        assert ingest.store_health.damaged and "alpr gateway restore" in ingest.store_health.damaged
        meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
        caller = Caller("cam-01", 900, SECRET.encode())
        with pytest.raises(Rejection) as refused:
            ingest.post_event(caller, protocol.encode_event(meta, [jpeg(3)]))
        assert refused.value.status == 503 and "damaged" in refused.value.reason
    finally:
        gateway.shutdown()
