"""Which secrets a camera may sign with, across a key rotation.

`alpr provision --rotate` gives a camera a new `secret` and keeps the old one as `previous_secret`
with the time of the rotation. The gateway accepts both for `gateway.rotation_grace_hours`, so that
the board keeps working until the technician deploys its new site config; the first request signed
with the new key ends the grace at once, and from then on the old key is refused for good. Which
keys each camera has used is kept in the store (table `camera_keys`), so a restart does not reopen
the window. A key is stored by its fingerprint, never in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gateway.config import Config, ConfigError
from gateway.store import Store

log = logging.getLogger("alpr.camera_keys")

TABLE = """
CREATE TABLE IF NOT EXISTS camera_keys (
    camera TEXT NOT NULL,
    key_id TEXT NOT NULL,          -- fingerprint of the key (key_id()), never the key
    first_used REAL NOT NULL,      -- unix seconds of the first request it signed
    PRIMARY KEY (camera, key_id)
)
"""
CURRENT, PREVIOUS = "secret", "previous_secret"  # the config keys they come from


def key_id(secret: bytes) -> str:
    """A fingerprint that names a key in the store without revealing it."""
    return hashlib.sha256(b"alpr-camera-key\n" + secret).hexdigest()[:32]


def has_used(db_path: Path, camera: str, secret: bytes) -> bool:
    """Whether the camera ever signed a request with this key, read without creating anything
    (for `alpr provision`, which may run while the gateway holds the store open)."""
    if not db_path.exists():
        return False
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute(
            "SELECT 1 FROM camera_keys WHERE camera=? AND key_id=?", (camera, key_id(secret))
        ).fetchone()
    except sqlite3.OperationalError:  # no such table: no camera used any key yet
        return False
    finally:
        db.close()
    return row is not None


class CameraKeys:
    """The keys each camera may use now, and the record of which it has used."""

    def __init__(
        self, config: Config, store: Store, clock: Callable[[], float] = time.time
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self._secrets: dict[tuple[str, str], bytes | None] = {}
        self._used: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.store.connect().execute(TABLE)

    def _secret(self, camera: str, name: str) -> bytes | None:
        """The key behind a camera's config entry, read once (ConfigError if unreadable)."""
        if (camera, name) not in self._secrets:
            if name == CURRENT:
                secret: bytes | None = self.config.secret(camera)
            else:
                secret = self.config.previous_secret(camera)
            self._secrets[camera, name] = secret
        return self._secrets[camera, name]

    def used(self, camera: str, secret: bytes) -> bool:
        kid = key_id(secret)
        if (camera, kid) in self._used:
            return True
        row = (
            self.store.connect()
            .execute("SELECT 1 FROM camera_keys WHERE camera=? AND key_id=?", (camera, kid))
            .fetchone()
        )
        if row is not None:
            self._used.add((camera, kid))
        return row is not None

    def keys_for(self, camera: str) -> list[tuple[str, bytes]]:
        """(name, secret) of every key the camera may sign with now, the current one first.

        ConfigError when the current key cannot be read; an unreadable previous key is logged and
        left out (the camera then needs its new site config)."""
        current = self._secret(camera, CURRENT)
        assert current is not None
        keys = [(CURRENT, current)]
        cam = self.config.cameras[camera]
        if cam.previous_secret_ref is None or cam.rotated_at is None:
            return keys
        if self.clock() > cam.rotated_at + self.config.rotation_grace_hours * 3600:
            return keys
        if self.used(camera, current):
            return keys
        try:
            previous = self._secret(camera, PREVIOUS)
        except ConfigError as exc:
            log.error("camera %s: previous key not usable: %s", camera, exc)
            return keys
        if previous is not None and previous != current:
            keys.append((PREVIOUS, previous))
        return keys

    def note_used(self, camera: str, name: str) -> None:
        """Record that a request signed with key `name` verified; the first use of the current
        key after a rotation ends the previous key's grace."""
        secret = self._secret(camera, name)
        if secret is None or self.used(camera, secret):
            return
        with self._lock:
            cur = self.store.connect().execute(
                "INSERT OR IGNORE INTO camera_keys (camera, key_id, first_used) VALUES (?, ?, ?)",
                (camera, key_id(secret), self.clock()),
            )
            self._used.add((camera, key_id(secret)))
        if cur.rowcount and name == CURRENT and self.config.cameras[camera].previous_secret_ref:
            log.info("camera %s signed with its new key; its previous key is refused from now on",
                     camera)  # fmt: skip

    def verify(self, camera: str, signature: str, sign: Callable[[bytes], str]) -> bytes | None:
        """The key whose signature `sign(key)` equals `signature`, noted as used; None if none.

        ConfigError when the camera's current key cannot be read."""
        for name, secret in self.keys_for(camera):
            if hmac.compare_digest(sign(secret), signature):
                self.note_used(camera, name)
                return secret
        return None
