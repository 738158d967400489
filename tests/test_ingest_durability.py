"""The order of durable steps behind a 201: a kill -9 test cannot see a missing fsync, this can.

Each file-system step and the SQLite commit are recorded as they happen, and the camera's answer
is recorded when it arrives: event file fsynced, renamed, its folder fsynced (and the parent of any
folder made for it), then the commit, then the answer.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from gateway_helpers import SECRET, jpeg, load_config, serve_ingest

from gateway.store import Store
from tools.field.camera_sim import CameraClient


class Recorder:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.steps: list[str] = []
        self.lock = threading.Lock()

    def note(self, step: str) -> None:
        with self.lock:
            self.steps.append(step)

    def rel(self, path: str | os.PathLike[str]) -> str | None:
        p = Path(path).resolve()
        return str(p.relative_to(self.root)) if p.is_relative_to(self.root) else None


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder(tmp_path / "data")
    real_fsync, real_replace, real_mkdir = os.fsync, os.replace, os.mkdir
    real_connect = Store.connect

    def fsync(fd: int) -> None:
        real_fsync(fd)
        where = rec.rel(os.readlink(f"/proc/self/fd/{fd}"))
        if where is not None:
            rec.note(f"fsync {where}")

    def replace(src: str, dst: str) -> None:
        real_replace(src, dst)
        where = rec.rel(dst)
        if where is not None:
            rec.note(f"rename {where}")

    def mkdir(path: str, mode: int = 0o777, *args: object, **kw: object) -> None:
        real_mkdir(path, mode)
        where = rec.rel(path)
        if where is not None:
            rec.note(f"mkdir {where}")

    def trace(statement: str) -> None:
        if statement == "COMMIT":
            time.sleep(0.3)  # an answer sent before the commit would arrive first
            rec.note("commit")

    def connect(self: Store) -> sqlite3.Connection:
        db = real_connect(self)
        db.set_trace_callback(trace)
        return db

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(Store, "connect", connect)
    return rec


def normalise(steps: list[str]) -> list[str]:
    """Event file names carry the sequence and a digest; keep only what the order is about."""
    steps = [s for s in steps if s.split(" ", 1)[-1] not in ("gateway.db", "gateway.db-wal")]
    steps = [re.sub(r"\.\d+-[0-9a-f]{12}\.evt\.\d+\.\d+\.tmp$", ".TMP", s) for s in steps]
    return [re.sub(r"/\d+-[0-9a-f]{12}\.evt$", "/EVENT", s) for s in steps]


def test_event_is_fsynced_then_committed_then_answered(tmp_path: Path, recorder: Recorder) -> None:
    with serve_ingest(load_config(tmp_path)) as (url, _store):
        client = CameraClient(url, "cam-01", SECRET.encode())
        recorder.steps.clear()  # the store's own creation is not the subject
        for seq in (1, 2):
            status, _ = client.send_event(seq, [jpeg(seq)])
            recorder.note(f"answer {status}")
        client.close()
    assert normalise(recorder.steps) == [
        # a new camera's folder: made, and its parent fsynced so that the folder survives
        "mkdir spool",
        "fsync .",
        "mkdir spool/cam-01",
        "fsync spool",
        # the event file: written and fsynced under a temporary name, renamed, folder fsynced
        "fsync spool/cam-01/.TMP",
        "rename spool/cam-01/EVENT",
        "fsync spool/cam-01",
        "commit",
        "answer 201",
        # the camera's next event: its folder exists
        "fsync spool/cam-01/.TMP",
        "rename spool/cam-01/EVENT",
        "fsync spool/cam-01",
        "commit",
        "answer 201",
    ]
