"""Evidence holds on the folder target: exact read ids, exact keys, safe exports, locked custody."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import load_config
from sync_helpers import make_read

from cloud import evidence
from cloud.storage import FileTarget, StorageError, StoredObject
from gateway.config import Config
from gateway.evidence_hold import hold_read
from gateway.store import Store
from gateway.sync import Syncer, read_prefix


class NoReadsListing(FileTarget):
    """The folder target, refusing to list reads/: a hold must find its read by its exact keys."""

    def list(self, prefix: str) -> Iterator[StoredObject]:
        if prefix.startswith("reads"):
            raise AssertionError(f"listed {prefix!r} to find one read")
        return super().list(prefix)


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Config, Store, NoReadsListing, list[str]]:
    config = load_config(tmp_path)
    store = Store(config.data_dir)
    target = NoReadsListing(tmp_path / "store")
    ids = [make_read(store, seed=i) for i in range(3)]
    assert Syncer(config, store, target).sync_once().synced == 3
    return config, store, target, ids


def held_reads(target: FileTarget) -> set[str]:
    return {o.key.split("/")[2] for o in target.list("evidence/")}


def test_empty_or_short_id_is_refused_and_holds_nothing(
    synced: tuple[Config, Store, NoReadsListing, list[str]],
) -> None:
    config, store, target, ids = synced
    for bad in ("", ids[0][:8], ids[0][:-1], ids[0] + "x", ids[0].upper()):
        with pytest.raises(StorageError, match="not a full read id"):
            hold_read(config, store, target, bad, "C-1", "det.ray", "robbery")
    assert held_reads(target) == set()
    hold_read(config, store, target, ids[1], "C-1", "det.ray", "robbery")
    assert held_reads(target) == {ids[1]}
    with pytest.raises(StorageError, match="not a full read id"):
        evidence.release(target, "C-1", "lt.moss", "closed", ids[1][:8])


def test_read_purged_locally_needs_date_site_camera(
    synced: tuple[Config, Store, NoReadsListing, list[str]],
) -> None:
    config, store, target, ids = synced
    row = store.connect().execute("SELECT * FROM reads WHERE id=?", (ids[2],)).fetchone()
    store.connect().execute("DELETE FROM reads WHERE id=?", (ids[2],))
    with pytest.raises(StorageError, match="--date YYYY-MM-DD --site S --camera C"):
        hold_read(config, store, target, ids[2], "C-2", "det.ray", "robbery")
    day = time.strftime("%Y-%m-%d", time.gmtime(row["captured"]))
    with pytest.raises(StorageError, match="not a site id"):
        hold_read(config, store, target, ids[2], "C-2", "u", "r", day=day, site="../x", camera="c")
    keys = hold_read(
        config,
        store,
        target,
        ids[2],
        "C-2",
        "det.ray",
        "robbery",
        day=day,
        site="s1",
        camera="cam-01",
    )
    assert sorted(Path(k).name for k in keys) == [f"{ids[2]}.jpg", f"{ids[2]}.json"]
    assert target.get(keys[1]) == target.get(read_prefix(row) + ".json")


def test_hold_on_unsynced_read_uploads_it_first(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    store = Store(config.data_dir)
    target = NoReadsListing(tmp_path / "store")
    read_id = make_read(store)
    keys = hold_read(config, store, target, read_id, "C-3", "det.ray", "hit and run")
    assert all(target.legal_hold(k) for k in keys) and len(keys) == 2
    row = store.connect().execute("SELECT * FROM reads WHERE id=?", (read_id,)).fetchone()
    assert target.head(read_prefix(row) + ".json") is not None
    # the regular sync then finds the objects there and does not send them again
    stats = Syncer(config, store, target).sync_once()
    assert stats.synced == 1 and stats.skipped_existing == 2


def test_custody_records_are_locked(
    synced: tuple[Config, Store, NoReadsListing, list[str]],
) -> None:
    config, store, target, ids = synced
    hold_read(config, store, target, ids[0], "C-4", "det.ray", "robbery", custody_days=1095)
    (record,) = list(target.list("custody/C-4/"))
    with pytest.raises(StorageError, match="Object Lock retention"):
        target.delete(record.key)
    with pytest.raises(StorageError, match="locked until"):
        target.put(record.key, b"rewritten")
    assert json.loads(target.get(record.key))["action"] == "hold"


def test_export_paths_stay_inside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for rel in ("../escape.txt", "a/../../escape.txt", "/etc/passwd", ""):
        with pytest.raises(StorageError, match="would leave the export folder"):
            evidence.inside(out, rel)
    (out / "link").symlink_to(tmp_path)
    with pytest.raises(StorageError, match="would leave the export folder"):
        evidence.inside(out, "link/x.jpg")
    assert evidence.inside(out, "r/x.jpg") == out / "r" / "x.jpg"
    with pytest.raises(StorageError, match="case number"):
        evidence.export(FileTarget(tmp_path / "store"), "..", out, "clerk", "discovery")


def test_evidence_commands_refuse_the_gateway_keys(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    """On a bucket whose policy names a gateway principal, evidence needs its own keys."""
    import os
    import uuid

    from gateway_helpers import write_config

    os.environ["ALPR_TEST_GW_KEY"] = "k"
    extra = (
        '\n[storage]\ntarget = "s3://b"\nendpoint = "http://127.0.0.1:9"\n'
        'access_key = "env:ALPR_TEST_GW_KEY"\nsecret_key = "env:ALPR_TEST_GW_KEY"\n'
        'gateway_principal = "arn:aws:iam:::user/alpr-gateway"\n'
    )
    path = write_config(tmp_path, extra=extra)
    team = make_team(path)
    args = ("evidence", "hold", str(uuid.uuid4()), "--case", "C-1", "--reason", "r")
    code, _, err = team.cli(*args, "--config", str(path), user="inv")
    assert code == 2 and "[evidence] access_key and secret_key" in err, err
