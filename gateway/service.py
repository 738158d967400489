"""The gateway service: ingest, reader workers and alert delivery, over one store."""

from __future__ import annotations

import logging
import socket
import threading

from cloud.storage import open_target
from gateway import reload
from gateway.access.db import AccessDB
from gateway.access.heads import HeadExporter
from gateway.alerts import VERIFY_REMINDER, AlertDispatcher
from gateway.at_rest import warn_if_unencrypted
from gateway.config import Config
from gateway.feeds import FeedWatcher, import_hotlist, load_configured_hotlists
from gateway.ingest import Ingest
from gateway.pipeline import MatcherCache, ReaderWorker
from gateway.reader.reader import ReaderConfig
from gateway.store import Store
from gateway.store_health import StoreWatch, check_at_start
from gateway.sync import Syncer, SyncWorker
from gateway.web import camera_server
from gateway.web.console import console_server

log = logging.getLogger("alpr.gateway")
__all__ = ["Gateway", "import_hotlist", "load_configured_hotlists"]


class Gateway:
    def __init__(self, config: Config, reader_config: ReaderConfig | None = None) -> None:
        self.config = config
        check_at_start(config)  # StoreDamaged, with the restore command, before anything opens it
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
            config.storage.sse_c_key(),
        )
        self.syncer = Syncer(config, self.store, self.target)
        self.heads = HeadExporter(
            AccessDB(config.data_dir),
            self.target,
            config.storage.target,
            config.retention.access_log_days,
            f"gateway:{socket.gethostname()}",
        )
        self.sync = SyncWorker(self.syncer, self.stop, heads=self.heads)
        reminder = config.alert_reminder or VERIFY_REMINDER
        self.feeds = FeedWatcher(self.store, config, reminder, self.stop)
        self.reload_lock = threading.Lock()
        self.hotlists = reload.HotlistFiles()
        self.tls_digest = reload.digest(config.tls_cert, config.tls_key)
        self.watcher = reload.ConfigWatcher(self.reload, lambda: self.config, self.stop)
        self.console = console_server(config, self.store, self.target)
        self.store_watch = StoreWatch(self.ingest.store_health, self.stop)

    @property
    def address(self) -> tuple[str, int]:
        return self.web.address

    @property
    def url(self) -> str:
        return self.web.url

    @property
    def ingest(self) -> Ingest:
        ingest: Ingest = self.web.config.app.state.ingest  # type: ignore[union-attr]
        return ingest

    def load_configured_hotlists(self) -> None:
        self.hotlists.refresh(self.store, self.config)

    def start(self) -> None:
        warn_if_unencrypted(self.config.data_dir)
        self.load_configured_hotlists()
        self.matchers.get()
        for w in self.workers:
            w.start()
        self.alerts.start()
        self.sync.start()
        self.feeds.start()
        self.store_watch.start()
        self.web.start()
        self.watcher.start()
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

    def reload(self, why: str = "SIGHUP") -> bool:
        """Read the config file again and apply it (gateway/reload.py); a bad file changes nothing."""
        with self.reload_lock:
            log.info("config reload (%s)", why)
            new = reload.read_new(self.config, self.tls_digest)
            if new is None:
                return False
            self.apply(new)
            return True

    def apply(self, config: Config) -> None:
        """Hand a new config to every part. Each takes it whole, by one assignment, and reads its
        config once per unit of work (a request, an event, a sync pass), so none sees half of one.
        Alert workers change first, so that a hit queued for a new target finds it running."""
        summary = reload.changes(self.config, config)
        self.alerts.reconfigure(config.alerts)
        self.matchers.reconfigure(config.max_substitutions)
        self.ingest.reconfigure(config)
        for w in self.workers:
            w.config = config
        self.syncer.reconfigure(config)
        self.heads.lock_days = config.retention.access_log_days
        self.feeds.reconfigure(config, config.alert_reminder or VERIFY_REMINDER)
        self.config = config
        self.hotlists.refresh(self.store, config)
        log.info(
            "config reloaded: %s",
            "; ".join(summary) or "no change to cameras, alert targets or hot-list sources",
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
        self.feeds.join(timeout=5)
        if self.store_watch.is_alive():
            self.store_watch.join(timeout=5)
        if self.watcher.is_alive():
            self.watcher.join(timeout=5)
