"""The gateway service: ingest, reader workers and alert delivery, over one store."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cloud.storage import open_target
from gateway import hotlist
from gateway.alerts import AlertDispatcher
from gateway.config import Config, HotlistSource
from gateway.pipeline import MatcherCache, ReaderWorker
from gateway.reader.reader import ReaderConfig
from gateway.store import Store
from gateway.sync import Syncer, SyncWorker
from gateway.web import camera_server
from gateway.web.console import console_server

log = logging.getLogger("alpr.gateway")


def import_hotlist(
    store: Store, path: Path, source: str, fmt: str, max_bad_share: float = 0.05
) -> tuple[int, list[hotlist.LineError]]:
    """Import a file as the whole of `source`; bad lines are reported, good ones imported.

    A file that cannot be read (OSError), or that `hotlist.refusal` rejects (ImportRefused: bad
    header, no valid line, too many bad lines) leaves the source's previous list active.
    """
    text = path.read_text(encoding="utf-8-sig")
    errors: list[hotlist.LineError] = []

    def accept(good: int, previous: int) -> None:
        why = hotlist.refusal(str(path), good, errors, max_bad_share, previous)
        if why is not None:
            raise hotlist.ImportRefused(why, errors)

    count = store.replace_hotlist(source, hotlist.iter_entries(text, source, fmt, errors), accept)
    for e in errors:
        log.warning("hot list %s (%s) %s", source, path, e)
    log.info("hot list %s: %d entries imported, %d lines rejected", source, count, len(errors))
    return count, errors


def load_configured_hotlists(store: Store, sources: list[HotlistSource]) -> None:
    """Re-import every configured file (at each start); a refused or unreadable file is logged in
    one line naming it and why, and its source's previous list stays active."""
    for source in sources:
        try:
            import_hotlist(store, source.path, source.source, source.format, source.max_bad_share)
        except hotlist.ImportRefused as exc:
            log.error("hot list %s: %s", source.source, exc)
        except OSError as exc:
            log.error(
                "hot list %s: cannot read %s (%s); the previous list stays active",
                source.source,
                source.path,
                exc.strerror,
            )


class Gateway:
    def __init__(self, config: Config, reader_config: ReaderConfig | None = None) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.stop = threading.Event()
        self.web = camera_server(config, self.store)
        self.matchers = MatcherCache(self.store, config.max_substitutions)
        claimed: set[int] = set()
        lock = threading.Lock()
        self.workers = [
            ReaderWorker(
                config,
                self.store,
                self.matchers,
                claimed,
                lock,
                self.stop,
                reader_config or ReaderConfig(),
            )
            for _ in range(config.reader_workers)
        ]
        self.alerts = AlertDispatcher(self.store, config.alerts, self.stop)
        access, secret = config.storage.credentials()
        self.target = open_target(
            config.storage.target,
            config.storage.endpoint,
            access,
            secret,
            config.storage.region,
            config.storage.base,
        )
        self.syncer = Syncer(config, self.store, self.target)
        self.sync = SyncWorker(self.syncer, self.stop)
        self.console = console_server(config, self.store, self.target)

    @property
    def address(self) -> tuple[str, int]:
        return self.web.address

    @property
    def url(self) -> str:
        return self.web.url

    def load_configured_hotlists(self) -> None:
        load_configured_hotlists(self.store, self.config.hotlists)

    def start(self) -> None:
        self.load_configured_hotlists()
        self.matchers.get()
        for w in self.workers:
            w.start()
        self.alerts.start()
        self.sync.start()
        self.web.start()
        if self.console is not None:
            self.console.start()
            log.info("console listening on %s", self.console.url)
        log.info(
            "gateway for %s listening on %s (%d cameras, %d reader workers)",
            self.config.agency,
            self.url,
            len(self.config.cameras),
            len(self.workers),
        )

    def shutdown(self) -> None:
        if self.console is not None:
            self.console.app.state.stopping = True  # ends the alert streams
            self.console.shutdown()
        self.web.shutdown()
        self.stop.set()
        self.store.new_events.notify()  # wake the waiting threads to see the stop
        self.store.new_alerts.notify()
        for w in self.workers:
            w.join(timeout=5)
        self.alerts.join(timeout=5)
        self.sync.join(timeout=5)
