"""Key rotation: which secrets a camera may sign with, in the store and over HTTP on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway_helpers import SECRET, serve_ingest, write_config, write_secret

from gateway.camera_keys import CameraKeys, has_used
from gateway.config import ConfigError, load
from gateway.store import Store
from tools.field import provision
from tools.field.camera_sim import CameraClient

NEW = "n3w-secret-cam-01"
ROTATED = "2026-11-29T12:00:00Z"
ROTATED_TS = 1795953600.0  # the same instant, unix seconds


def rotated_config(tmp_path: Path, grace: float = 72.0) -> Path:
    """cam-01 after a rotation: the new key current, the old one (SECRET) kept as previous."""
    config = write_config(tmp_path)
    write_secret(tmp_path, "cam-01-new.key", NEW)
    text = config.read_text()
    text = text.replace(
        "reader_workers = 1\n", f"reader_workers = 1\nrotation_grace_hours = {grace}\n"
    )
    text = text.replace(
        'secret = "file:cam-01.key"',
        f'secret = "file:cam-01-new.key"\nprevious_secret = "file:cam-01.key"\n'
        f"rotated_at = {ROTATED}",
    )
    config.write_text(text)
    return config


def names(keys: CameraKeys, camera: str = "cam-01") -> list[str]:
    return [name for name, _ in keys.keys_for(camera)]


def test_both_keys_until_the_new_one_is_used_then_only_the_new(tmp_path: Path) -> None:
    config = load(rotated_config(tmp_path))
    assert config.cameras["cam-01"].rotated_at == ROTATED_TS
    store = Store(config.data_dir)
    keys = CameraKeys(config, store, clock=lambda: ROTATED_TS + 3600)
    assert keys.keys_for("cam-01") == [
        ("secret", NEW.encode()),
        ("previous_secret", SECRET.encode()),
    ]
    keys.note_used("cam-01", "previous_secret")  # the board still on its old key: nothing ends
    assert names(keys) == ["secret", "previous_secret"]
    assert names(keys, "cam-02") == ["secret"]  # a camera never rotated has its one key
    keys.note_used("cam-01", "secret")
    assert names(keys) == ["secret"]
    # kept in the store: a restarted gateway does not accept the old key again
    again = CameraKeys(load(config.path or ""), Store(config.data_dir), lambda: ROTATED_TS + 7200)
    assert names(again) == ["secret"]
    assert has_used(store.db_path, "cam-01", NEW.encode())
    assert not has_used(store.db_path, "cam-02", b"other-secret")


def test_the_grace_window_ends_without_the_new_key(tmp_path: Path) -> None:
    config = load(rotated_config(tmp_path, grace=2))
    store = Store(config.data_dir)
    assert names(CameraKeys(config, store, lambda: ROTATED_TS + 2 * 3600 - 1)) == [
        "secret", "previous_secret",
    ]  # fmt: skip
    assert names(CameraKeys(config, store, lambda: ROTATED_TS + 2 * 3600 + 1)) == ["secret"]


def test_rotation_keys_are_validated_together(tmp_path: Path) -> None:
    path = rotated_config(tmp_path)
    text = path.read_text()
    path.write_text(text.replace(f"rotated_at = {ROTATED}\n", ""))
    with pytest.raises(ConfigError, match=r"cameras\[0\]: give previous_secret and rotated_at"):
        load(path)
    path.write_text(text.replace(ROTATED, "2026-11-29T12:00:00"))
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.rotated_at: give the time with its"):
        load(path)
    path.write_text(text.replace("rotation_grace_hours = 72.0", "rotation_grace_hours = -1"))
    with pytest.raises(ConfigError, match=r"gateway\.rotation_grace_hours: -1.0 is out of range"):
        load(path)


def test_old_key_refused_after_the_first_new_key_request_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end on loopback, after `alpr provision --rotate`: the old key works, the new key
    works, and after the first new-key request the old key gets 401."""
    monkeypatch.setenv("ALPR_WIFI_PASSWORD", "pd-pass")
    path = write_config(tmp_path)
    url_args = ["--gateway-url", "http://127.0.0.1:8080"]
    provision.provision(
        provision.build_args(
            ["--camera", "cam-09", "--config", str(path), "--heading", "90", *url_args]
        )
    )
    old_key = (tmp_path / "cam-09.secret").read_text().strip().encode()
    secret_path, site = provision.provision(
        provision.build_args(["--rotate", "cam-09", "--config", str(path)])
    )
    new_key = secret_path.read_text().strip().encode()
    assert json.loads(site.read_text())["secret"].encode() == new_key
    with serve_ingest(load(path)) as (url, store):
        old = CameraClient(url, "cam-09", old_key)
        new = CameraClient(url, "cam-09", new_key)
        for client, expected in ((old, 200), (old, 200), (new, 200), (old, 401), (new, 200)):
            status, body = client.send_heartbeat({"battery_v": 3.9})
            assert status == expected, body
        assert body == {"time": body["time"]}
        status, body = old.send_heartbeat({"battery_v": 3.9})
        assert status == 401 and body["error"] == "bad signature"
        old.close()
        new.close()
        beats = store.connect().execute("SELECT COUNT(*) FROM heartbeats").fetchone()[0]
        assert beats == 4
