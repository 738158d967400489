"""Helpers for gateway tests: a config in a temp dir, scenes as JPEGs, a served ingest."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from gateway.config import Config, load
from gateway.store import Store
from gateway.web import camera_server

SECRET = "s3cret-cam-01"


def write_secret(folder: Path, name: str, secret: str) -> str:
    """A secret file only its owner reads; returns its reference for the config."""
    path = folder / name
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return f"file:{name}"


def write_config(
    tmp: Path, extra: str = "", port: int = 0, workers: int = 1, gateway: str = ""
) -> Path:
    """`gateway` adds lines to the [gateway] table, `extra` tables at the end."""
    path = tmp / "alpr.toml"
    write_secret(tmp, "cam-01.key", SECRET)
    write_secret(tmp, "cam-02.key", "other-secret")
    path.write_text(f"""
[agency]
name = "Test PD"

[gateway]
listen = "127.0.0.1:{port}"
data_dir = "data"
reader_workers = {workers}
max_body_bytes = 2000000
{gateway}

[[sites]]
id = "s1"
name = "Test site"
lat = 40.0
lon = -88.0

[[cameras]]
id = "cam-01"
site = "s1"
heading = 90
secret = "file:cam-01.key"

[[cameras]]
id = "cam-02"
site = "s1"
heading = 270
secret = "file:cam-02.key"
{extra}
""")
    return path


def jpeg(seed: int = 0, w: int = 320, h: int = 240) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def scene_jpeg(text: str, seed: int = 0) -> bytes:
    from tools.scenes import make_scene

    frame, _, _ = make_scene(random.Random(seed), text)
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


@contextmanager
def serve_ingest(config: Config) -> Iterator[tuple[str, Store]]:
    """Ingest only (no reader), on an ephemeral loopback port."""
    store = Store(config.data_dir)
    server = camera_server(config, store)
    server.start()
    try:
        yield server.url, store
    finally:
        server.shutdown()


def load_config(tmp: Path, **kw: object) -> Config:
    return load(write_config(tmp, **kw))  # type: ignore[arg-type]
