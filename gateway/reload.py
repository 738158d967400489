"""Live reload: the config file read again on SIGHUP (or, with `[gateway] reload = "watch"`, when it
or a hot-list file changes), validated whole, then applied without a restart.

What the gateway bound or opened at start (its listener, store, TLS files, reader threads, storage
target, log) keeps its running value, and those keys are named in one log line. A file that does not
validate changes nothing: the error names the key, and the running config stays.

The running gateway keeps `gateway.pid` in its data dir, beside its service lock, so that
`alpr gateway reload` finds it, and a pid file left by a gateway that died is known for what it is.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.backup import LOCK_NAME
from gateway.config import EMBEDDED, Config, ConfigError, load
from gateway.feeds import import_source
from gateway.store import Store

log = logging.getLogger("alpr.gateway")
POLL_S = 1.0  # how often a watched config is looked at
SIGNAL_POLL_S = 0.2  # how soon a SIGHUP is acted on
PID_NAME = "gateway.pid"

# Keys whose values the gateway binds or opens at start: (key in the file, Config attributes).
FIXED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway.listen", ("listen_host", "listen_port")),
    ("gateway.data_dir", ("data_dir",)),
    ("gateway.tls_cert", ("tls_cert",)),
    ("gateway.tls_key", ("tls_key",)),
    ("gateway.header_timeout_s", ("header_timeout_s",)),
    ("gateway.request_timeout_s", ("request_timeout_s",)),
    ("gateway.keepalive_timeout_s", ("keepalive_timeout_s",)),
    ("gateway.max_connections", ("max_connections",)),
    ("gateway.reader_workers", ("reader_workers",)),
    ("console", ("console",)),  # its listener, TLS files and idle timeout are bound at start
    ("logging.target", ("logging_target",)),
    ("logging.file", ("logging_file",)),
)
# [storage] keys the open storage target was made from (attribute -> key in the file)
STORAGE_FIXED = {
    "target": "target",
    "endpoint": "endpoint",
    "region": "region",
    "access_key_ref": "access_key",
    "secret_key_ref": "secret_key",
}


def digest(*paths: Path | None) -> str | None:
    """sha256 over the files' contents; None when one cannot be read."""
    h = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        try:
            h.update(path.read_bytes())
        except OSError:
            return None
    return h.hexdigest()


def keep_fixed(running: Config, new: Config, tls_digest: str | None) -> tuple[Config, list[str]]:
    """`new` with the running value of every key that cannot change live, and those keys."""
    fixed: list[str] = []
    keep: dict[str, Any] = {}
    for key, attrs in FIXED:
        if any(getattr(running, a) != getattr(new, a) for a in attrs):
            fixed.append(key)
            keep.update({a: getattr(running, a) for a in attrs})
    storage: dict[str, Any] = {}
    for attr, key in STORAGE_FIXED.items():
        if getattr(running.storage, attr) != getattr(new.storage, attr):
            fixed.append(f"storage.{key}")
            storage[attr] = getattr(running.storage, attr)
    if storage:
        keep["storage"] = new.storage.model_copy(update=storage)
    if (
        "gateway.tls_cert" not in fixed
        and "gateway.tls_key" not in fixed
        and running.tls_cert is not None
        and digest(running.tls_cert, running.tls_key) != tls_digest
    ):
        fixed.append("gateway.tls_cert/tls_key (the files' contents)")
    return replace(new, **keep), fixed


def changes(old: Config, new: Config) -> list[str]:
    """What a reload changes, in words, for the log."""
    out: list[str] = []
    added = sorted(new.cameras.keys() - old.cameras.keys())
    removed = sorted(old.cameras.keys() - new.cameras.keys())
    changed = sorted(
        c for c in new.cameras.keys() & old.cameras.keys() if new.cameras[c] != old.cameras[c]
    )
    for what, ids in (("added", added), ("removed", removed), ("changed", changed)):
        if ids:
            out.append(f"cameras {what}: {', '.join(ids)}")
    if new.alerts != old.alerts:
        before, after = (", ".join(t.kind for t in c.alerts) for c in (old, new))
        out.append(f"alert targets changed ({before} -> {after})")
    if new.hotlists != old.hotlists:
        out.append("hot-list sources changed")
    return out


def read_new(running: Config, tls_digest: str | None) -> Config | None:
    """The config file validated again, with the running value of the keys that cannot change
    live; None (and one error line naming the key) when it does not validate."""
    path = running.path
    if path is None:
        log.error(
            "config reload: the gateway was not started from a config file; nothing to reload"
        )
        return None
    try:
        new = load(path, allow_literal=path.resolve() == EMBEDDED.resolve())
    except ConfigError as exc:
        problems = "; ".join(str(exc).splitlines())
        log.error("config reload refused (%s): %s; the running config stays", path, problems)
        return None
    new, fixed = keep_fixed(running, new, tls_digest)
    if fixed:
        log.warning(
            "config reload: %s %s a restart; keeping the running value",
            ", ".join(fixed),
            "needs" if len(fixed) == 1 else "need",
        )
    return new


class HotlistFiles:
    """The configured hot-list files as last imported: a reload re-imports only a source whose
    entry, file, import profile or categories changed. A refused or unreadable file is tried
    again only once it changes."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[object, ...]] = {}

    def refresh(self, store: Store, config: Config) -> int:
        """Import what changed; returns how many sources were imported (or tried)."""
        tried = 0
        for source in config.hotlists:
            # the file is hashed before the import: an edit during it shows at the next reload
            state = (
                source,
                digest(source.path),
                config.profiles.get(source.format),
                config.categories,
            )
            if self.seen.get(source.source) == state:
                continue
            self.seen[source.source] = state
            import_source(store, config, source)
            tried += 1
        for name in sorted(self.seen.keys() - {s.source for s in config.hotlists}):
            del self.seen[name]
            log.warning(
                "hot list %s is no longer in the config; its entries stay active until removed"
                " (alpr hotlist remove)",
                name,
            )
        return tried


def hotlist_stats(config: Config) -> tuple[object, ...]:
    """The hot-list files' stats: cheap to take each second, even of a large list."""
    stats: list[object] = []
    for source in config.hotlists:
        try:
            st = source.path.stat()
            stats.append((str(source.path), st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stats.append((str(source.path), None))
    return tuple(stats)


def fingerprint(config: Config) -> tuple[object, ...]:
    """What watch mode compares each second: the config file's contents, the hot-list files' stats."""
    return (digest(config.path), *hotlist_stats(config))


def baseline(config: Config) -> tuple[object, ...]:
    """The fingerprint of what runs: the config file as it was loaded, the hot-list files now."""
    return (config.source_sha256 or digest(config.path), *hotlist_stats(config))


class ConfigWatcher(threading.Thread):
    """Runs every reload, one at a time: asked for by SIGHUP (`request`, safe in a signal handler:
    it only sets a flag), or, in watch mode, when the file differs from the running one and has
    held still for a poll (an editor's half-written file is not taken)."""

    def __init__(
        self,
        reload: Callable[[str], bool],
        current: Callable[[], Config],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="config-watch", daemon=True)
        self.reload, self.current, self.stop = reload, current, stop
        self.requested = False
        self.last = baseline(current())  # taken now, before the gateway starts serving

    def request(self) -> None:
        self.requested = True

    def run(self) -> None:
        pending: tuple[object, ...] | None = None
        waited = 0.0
        while not self.stop.wait(SIGNAL_POLL_S):
            if self.requested:
                self.requested = False
                self.safe_reload("SIGHUP")
                self.last, pending = baseline(self.current()), None
                continue
            waited += SIGNAL_POLL_S
            config = self.current()
            if config.reload != "watch" or config.path is None or waited < POLL_S:
                continue
            waited = 0.0
            now = fingerprint(config)
            if now == self.last:
                pending = None
            elif now != pending:
                pending = now  # changed: act once it holds still for a poll
            else:
                ok = self.safe_reload("the file changed")
                # a refused file is not tried again until it changes
                self.last, pending = baseline(self.current()) if ok else now, None

    def safe_reload(self, why: str) -> bool:
        try:
            return self.reload(why)
        except Exception:  # the service keeps running on its current config
            log.exception("config reload (%s) failed; the running config stays", why)
            return False


class PidFile:
    """`gateway.pid` in the data dir, for tools that signal the gateway: written once the gateway
    holds its service lock (gateway/backup.py), removed on a clean exit."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PID_NAME

    def write(self) -> None:
        tmp = self.path.with_name(PID_NAME + ".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def running_pid(data_dir: Path) -> tuple[int | None, str]:
    """The running gateway's pid, or None and why there is none, in words. A pid file counts only
    while its gateway holds the service lock, with the same pid in it (the kernel drops the lock
    when the process dies, so a pid file left by a crash is never taken for a live gateway)."""
    path = data_dir / PID_NAME
    pid = read_pid(path)
    if pid is None:
        if not path.exists():
            return None, f"no gateway is running (no {path})"
        return None, f"{path} does not hold a pid"
    stale = f"no gateway is running ({path} is left from one that stopped)"
    lock = data_dir / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return None, stale
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: by the gateway that wrote the pid file?
            return (pid, "") if read_pid(lock) == pid else (None, stale)
        return None, stale
    finally:
        os.close(fd)
