"""`alpr gateway serve|status|backup|restore` and `alpr cameras status`.

The status commands need a login (`gateway.status`, `cameras.view`); they show counts and camera
health, never a plate, so they leave no audit record. `serve` runs as the service account;
`backup` and `restore` too, by whoever can already read and write the data folder (root or the
service account): the files themselves are the access control there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from gateway import review, site_status
from gateway.backup import GatewayRunning, RestoreError, ServiceLock, check_backup, restore
from gateway.camera_health import camera_health
from gateway.reload import PidFile, running_pid
from gateway.store import Store
from gateway.store_health import StoreDamaged
from tools.common import add_config_arg, load_config, open_store
from tools.errors import UserError
from tools.ops import auth
from tools.ops.logsetup import configure_logging

log = logging.getLogger("alpr.gateway")
STORE_TABLES = ("events", "reads", "hits", "hotlist", "access_log")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("gateway", help="run the gateway service, or show its status")
    gsub = p.add_subparsers(dest="gateway_command", required=True)
    serve = gsub.add_parser("serve", help="receive captures, read plates, match hot lists, alert")
    add_config_arg(serve)
    serve.set_defaults(func=run_serve)
    rel = gsub.add_parser(
        "reload", help="make the running gateway read its config again (sends it SIGHUP)"
    )
    add_config_arg(rel)
    rel.set_defaults(func=run_reload)
    status = gsub.add_parser("status", help="backlog, reads, hits and alerts waiting")
    add_config_arg(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=run_status)
    bk = gsub.add_parser("backup", help="a consistent copy of the store, safe while it runs")
    add_config_arg(bk)
    bk.add_argument("--out", type=Path, required=True, help="the backup file to write (new)")
    bk.set_defaults(func=run_backup)
    rs = gsub.add_parser("restore", help="replace the store by a backup (gateway stopped)")
    add_config_arg(rs)
    rs.add_argument("file", type=Path, help="a file written by `alpr gateway backup`")
    rs.set_defaults(func=run_restore)
    spec = gsub.add_parser(
        "openapi", help="print the HTTP API's OpenAPI spec (as checked in: gateway/openapi.json)"
    )
    spec.set_defaults(func=run_openapi)

    c = sub.add_parser("cameras", help="camera health")
    csub = c.add_subparsers(dest="cameras_command", required=True)
    cs = csub.add_parser("status", help="last contact and health of each camera, with flags")
    add_config_arg(cs)
    cs.add_argument("--json", action="store_true")
    cs.set_defaults(func=run_cameras_status)


def run_serve(args: argparse.Namespace) -> int:
    config = load_config(args)
    configure_logging(config.logging_target, config.logging_file, verbose=args.verbose)
    try:
        lock = ServiceLock(config.data_dir).acquire()
    except GatewayRunning as exc:
        raise UserError(str(exc)) from None
    # From the moment the pid file names us, SIGHUP means "reload", never the default "exit":
    # one that comes while the gateway is still being built is taken once it runs.
    early: list[bool] = []
    signal.signal(signal.SIGHUP, lambda *_: early.append(True))
    pid_file = PidFile(config.data_dir)
    pid_file.write()
    try:
        try:
            from gateway.service import Gateway  # the web stack loads only to serve

            gateway = Gateway(config)
        except StoreDamaged as exc:
            raise UserError(f"not starting: {exc}") from None
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        signal.signal(signal.SIGHUP, lambda *_: gateway.watcher.request())
        if early:
            gateway.watcher.request()
        gateway.start()
        stopped.wait()
        log.info("shutting down")
        gateway.shutdown()
    finally:
        pid_file.remove()
        lock.release()
    return 0


def run_reload(args: argparse.Namespace) -> int:
    """SIGHUP to the gateway running on this config's data dir; its log says what changed."""
    config = load_config(args)
    pid, why = running_pid(config.data_dir)
    if pid is None:
        raise UserError(why)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise UserError(f"no gateway is running (process {pid} is gone)") from None
    print(f"asked the gateway (pid {pid}) to reload its config; its log says what changed")
    return 0


def store_counts(db: sqlite3.Connection) -> str:
    """Rows per main table, so a backup or restore can be checked at a glance."""
    counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in STORE_TABLES}
    return ", ".join(f"{n} {t}" for t, n in counts.items())


def run_backup(args: argparse.Namespace) -> int:
    """Online backup: the gateway keeps receiving while the copy is taken."""
    out: Path = args.out
    if out.exists():
        raise UserError(f"{out} exists; give a new file name (a backup never overwrites)")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent} is not a folder; create it first")
    _, store = open_store(args)
    store.backup(out)
    check_backup(out)
    print(f"backed up {store.db_path} to {out}: {store_counts(sqlite3.connect(out))}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    config = load_config(args)
    try:
        found, saved = restore(config.data_dir, args.file)
    except RestoreError as exc:
        raise UserError(str(exc)) from None
    if saved:
        print(f"the replaced store is kept at {saved}")
    store = Store(config.data_dir)  # upgrades a backup from an older release, with its own backup
    print(
        f"restored {args.file} (schema version {found}) into {store.db_path}: {store_counts(store.connect())}"
    )
    print("event files are not in the backup: copy the data folder's spool/ back if it was lost")
    return 0


def run_openapi(args: argparse.Namespace) -> int:
    from gateway.web.app import openapi_text

    print(openapi_text(), end="")
    return 0


def gateway_status(
    store: Store,
    open_hit_hours: float = 12.0,
    now: float | None = None,
    sources: list[Any] | None = None,
) -> dict[str, Any]:
    """Counts for `gateway status`; `hits_open_overdue`: hits still without a disposition after
    `open_hit_hours` (config `[hits] open_alert_hours`), which someone must follow up;
    `hotlists_stale`: configured `sources` not imported within their max_age_hours;
    `hotlists_unapproved`: imported sources no manager approved, whose entries do not alert."""
    db = store.connect()
    now = now or time.time()
    overdue_before = now - open_hit_hours * 3600
    states = review.source_states(store, sources or [])

    def one(sql: str, *params: object) -> int:
        return int(db.execute(sql, params).fetchone()[0])

    flagged = site_status.counts(store)
    return {
        "events": one("SELECT count(*) FROM events"),
        "backlog": store.backlog(),
        "reads": one("SELECT count(*) FROM reads"),
        "no_read": one("SELECT count(*) FROM events WHERE status='noread'"),
        "failed": one("SELECT count(*) FROM events WHERE status='failed'"),
        "hits_open": one("SELECT count(*) FROM hits WHERE disposition IS NULL"),
        "hits_open_overdue": one(
            "SELECT count(*) FROM hits WHERE disposition IS NULL AND created < ?", overdue_before
        ),
        "alerts_pending": one("SELECT count(*) FROM alerts WHERE delivered_at IS NULL"),
        "alerts_delivered": one("SELECT count(*) FROM alerts WHERE delivered_at IS NOT NULL"),
        "hotlist_entries": one("SELECT count(*) FROM hotlist WHERE cancelled_at IS NULL"),
        "hotlist_requested": one(
            "SELECT count(*) FROM hotlist WHERE cancelled_at IS NULL AND status='requested'"
        ),
        "hotlists_stale": [s.source for s in states if s.stale(now)],
        "hotlists_unapproved": [s.source for s in states if not s.approved_by and s.entries],
        **{f"captures_site_{k}": v for k, v in flagged.items()},
        "alerts_waiting": alerts_waiting(store),
    }


def alerts_waiting(store: Store) -> dict[str, dict[str, Any]]:
    """Undelivered alerts per target (`<index>:<kind>`), with the most tries and the last error,
    so a dead channel shows by name."""
    out: dict[str, dict[str, Any]] = {}
    for row in store.connect().execute(
        "SELECT target, count(*) AS n, max(attempts) AS tries,"
        " (SELECT a.last_error FROM alerts a WHERE a.target = alerts.target"
        "  AND a.delivered_at IS NULL AND a.last_error IS NOT NULL ORDER BY a.id DESC LIMIT 1)"
        " AS last_error FROM alerts WHERE delivered_at IS NULL GROUP BY target ORDER BY target"
    ):
        out[row["target"]] = {
            "pending": row["n"],
            "attempts": row["tries"],
            "last_error": row["last_error"],
        }
    return out


def run_status(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "gateway.status")
    config, store = ctx.config, Store(ctx.config.data_dir)
    status = gateway_status(store, config.open_hit_hours, sources=config.hotlists)
    if args.json:
        print(json.dumps(status))
    else:
        for key, value in status.items():
            if key != "alerts_waiting":
                shown = ", ".join(value) or "none" if isinstance(value, list) else value
                print(f"{key:<19} {shown}")
        for source in status["hotlists_stale"]:
            print(f"WARNING: hot list {source} is stale (alpr hotlist sources)")
        for source in status["hotlists_unapproved"]:
            print(
                f"WARNING: hot list {source} is not approved: its entries do not alert"
                f" (alpr hotlist approve-source {source})"
            )
        for target, waiting in status["alerts_waiting"].items():
            print(
                f"WARNING: {waiting['pending']} alerts waiting for alerts[{target}]"
                f" ({waiting['attempts']} tries): {waiting['last_error'] or 'not tried yet'}"
            )
        if status["hits_open_overdue"]:
            print(
                f"WARNING: {status['hits_open_overdue']} hits open longer than"
                f" {config.open_hit_hours:g} h: record a disposition (alpr hits disposition)"
            )
        for state in site_status.FLAGGED:
            if status[f"captures_site_{state}"]:
                print(
                    f"WARNING: {status[f'captures_site_{state}']} captures from cameras at {state}"
                    " sites: check the site plan (alpr sites check) and the cameras there"
                )
    return 0


def run_cameras_status(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "cameras.view")
    config, store = ctx.config, Store(ctx.config.data_dir)
    health = camera_health(config, store)
    if args.json:
        for h in health:
            print(json.dumps(h))
        return 0
    print(
        f"{'camera':<12} {'site':<14} {'last contact':<14} {'batt V':>6} {'solar V':>7} {'rssi':>5}"
        f" {'queued':>6} {'dropped':>7} {'read rate':>9}  flags"
    )
    for h in health:
        age = "never" if h["last_contact_age_s"] is None else f"{h['last_contact_age_s']} s ago"
        rate = "-" if h["read_rate_recent"] is None else f"{100 * h['read_rate_recent']:.0f} %"
        print(
            f"{h['camera']:<12} {h['site']:<14} {age:<14} {h['battery_v'] or '-':>6} {h['solar_v'] or '-':>7}"
            f" {h['rssi'] or '-':>5} {h['queued'] if h['queued'] is not None else '-':>6}"
            f" {h['dropped'] if h['dropped'] is not None else '-':>7} {rate:>9}  {', '.join(h['flags']) or 'ok'}"
        )
    return 0
