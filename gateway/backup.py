"""Backups of the gateway store with SQLite's online backup API, restore, and the service lock.

A plain file copy of a live WAL database can miss committed pages still in the -wal file; the
backup API copies a consistent snapshot while the gateway keeps writing. Restore replaces the store
only while no gateway holds the service lock on the data folder, and only from a file that passes
`PRAGMA integrity_check`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from types import TracebackType

BACKUP_DIR = "backups"
LOCK_NAME = "gateway.lock"


class RestoreError(RuntimeError):
    """A restore that was refused; the message says why and what to do."""


class GatewayRunning(RuntimeError):
    """Another gateway already serves this data folder."""


def backup(db: sqlite3.Connection, dest: Path) -> Path:
    """A consistent copy of a live store (online backup API: readers and writers carry on)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    out = sqlite3.connect(dest)
    try:
        db.backup(out)
        # the copy carries the store's WAL flag; a backup must be one self-contained file
        out.execute("PRAGMA journal_mode=DELETE")
    finally:
        out.close()
    return dest


def backup_name(data_dir: Path, store_version: int, suffix: str = "") -> Path:
    """`<data_dir>/backups/store-v<N>-<UTC timestamp><suffix>.db`, never an existing file."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = data_dir / BACKUP_DIR
    path = folder / f"store-v{store_version}-{stamp}{suffix}.db"
    n = 1
    while path.exists():  # two backups in one second must not overwrite each other
        n += 1
        path = folder / f"store-v{store_version}-{stamp}{suffix}-{n}.db"
    return path


class ServiceLock:
    """An exclusive lock on `<data_dir>/gateway.lock`, held while `alpr gateway serve` runs.

    flock is released by the kernel when the process dies, so a crash leaves no stale lock; the
    file also carries the pid for the message that names the running gateway.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> ServiceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise GatewayRunning(
                f"a gateway is running on {self.path.parent} (pid {pid}); stop it first"
                " (systemctl stop alpr-gateway, or Ctrl-C the `alpr gateway serve`)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> ServiceLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def check_backup(path: Path) -> int:
    """Refuse a file that is not a sound gateway store; returns its schema version."""
    from gateway import migrations

    if path.is_dir():
        raise RestoreError(f"{path} is a folder: give the backup file itself")
    if not path.is_file():
        raise RestoreError(f"{path}: no such backup file")
    try:
        src = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise RestoreError(f"{path}: cannot open it: {exc}") from None
    try:
        problems = [r[0] for r in src.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise RestoreError(
                f"{path} fails its integrity check ({'; '.join(problems[:3])}): pick another backup"
            )
        tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"events", "reads", "hits"} <= tables:
            raise RestoreError(f"{path} is a SQLite file but not a gateway store (no events/reads)")
        found = migrations.version(src)
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{path} is not a SQLite database ({exc})") from None
    finally:
        src.close()
    if found > migrations.CURRENT:
        raise RestoreError(
            f"{path} has schema version {found}, newer than this release ({migrations.CURRENT}):"
            " restore it with the release that made it"
        )
    return found


def restore(data_dir: Path, source: Path) -> tuple[int, Path | None]:
    """Replace the store in data_dir by the backup at source; returns (its version, where the
    replaced store was saved). Refused while a gateway serves data_dir."""
    from gateway import migrations

    found = check_backup(source)
    try:
        lock = ServiceLock(data_dir).acquire()
    except GatewayRunning as exc:
        raise RestoreError(f"not restoring: {exc}") from None
    try:
        db_path = Path(data_dir) / "gateway.db"
        saved = None
        dst = sqlite3.connect(db_path, timeout=30)
        try:
            if migrations.version(dst):
                saved = backup(
                    dst, backup_name(Path(data_dir), migrations.version(dst), "-replaced")
                )
            src = sqlite3.connect(f"file:{source.resolve()}?mode=ro", uri=True)
            try:
                src.backup(dst)
            finally:
                src.close()
        finally:
            dst.close()
    finally:
        lock.release()
    return found, saved
