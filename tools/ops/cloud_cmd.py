"""`alpr cloud init|check|verify-retention`, `alpr evidence hold|release|export`, `alpr purge-log`.

Each acts as the logged-in user: the role is checked by `auth.authorize`, the user's name goes into
the custody record, and the action into the audit log before the bucket is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cloud import bucket, evidence
from cloud.storage import StorageError, Target, open_target
from gateway.config import Config
from gateway.evidence_hold import hold_read
from gateway.store import Store
from tools.common import add_config_arg
from tools.ops import auth


def target_for(config: Config) -> Target:
    access, secret = config.storage.credentials()
    s = config.storage
    return open_target(s.target, s.endpoint, access, secret, s.region, s.base, s.sse_c_key())


def evidence_target_for(config: Config) -> Target:
    """The storage target under the evidence role's keys ([evidence]).

    A bucket whose policy names a gateway principal refuses legal holds to the gateway's keys, so
    there the evidence keys are required; elsewhere (a folder, one-user setups) the storage keys do.
    """
    access, secret = config.evidence.credentials()
    s = config.storage
    if access is None:
        if s.target.startswith("s3://") and s.gateway_principal:
            raise StorageError(
                "evidence commands need the evidence role's keys: set [evidence] access_key and "
                "secret_key (the gateway's keys may not set legal holds)"
            )
        access, secret = s.credentials()
    return open_target(s.target, s.endpoint, access, secret, s.region, s.base, s.sse_c_key())


def need_reason(reason: str, what: str) -> None:
    """Checked before anything is recorded or touched: a custody record without a reason is void."""
    if not reason.strip():
        raise StorageError(f"{what} needs a reason (--reason): it goes into the custody record")


def custody_days(config: Config) -> int:
    """How long custody records are locked: as long as the access log is kept (the audit period)."""
    return config.retention.access_log_days


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "cloud", help="the storage bucket: create, check for drift, verify retention"
    )
    csub = c.add_subparsers(dest="cloud_command", required=True)
    for name, func, text in (
        ("init", run_init, "create or verify the bucket and set its rules"),
        ("check", run_check, "report drift between the bucket and the config"),
        ("verify-retention", run_verify, "list reads kept past retention + grace"),
    ):
        p = csub.add_parser(name, help=text)
        add_config_arg(p)
        if name == "verify-retention":
            p.add_argument("--grace-days", type=float, default=2.0)
        p.set_defaults(func=func)

    e = sub.add_parser("evidence", help="legal holds on reads extracted as evidence")
    esub = e.add_subparsers(dest="evidence_command", required=True)
    h = esub.add_parser("hold", help="copy a read under evidence/CASE/ with a legal hold")
    add_config_arg(h)
    h.add_argument("read", help="the full read id")
    h.add_argument("--case", required=True)
    h.add_argument("--date", help="capture date YYYY-MM-DD, for a read no longer on the gateway")
    h.add_argument("--site", help="site id, for a read no longer on the gateway")
    h.add_argument("--camera", help="camera id, for a read no longer on the gateway")
    h.add_argument("--reason", required=True, help="why it is held (custody record, audit log)")
    h.set_defaults(func=run_hold)
    r = esub.add_parser("release", help="lift the legal holds of a case (or of one read in it)")
    add_config_arg(r)
    r.add_argument("case")
    r.add_argument("--read")
    r.add_argument("--reason", required=True, help="why it is released (court order, case closed)")
    r.set_defaults(func=run_release)
    x = esub.add_parser("export", help="files, SHA-256 manifest and chain of custody of a case")
    add_config_arg(x)
    x.add_argument("case")
    x.add_argument("dir", type=Path)
    x.add_argument("--reason", required=True, help="who asked for it and why (audit log)")
    x.set_defaults(func=run_export)

    pl = sub.add_parser(
        "purge-log", help="proof of deletion: every local purge, with a hash of the ids"
    )
    add_config_arg(pl)
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=run_purge_log)


def guarded(func):  # type: ignore[no-untyped-def]
    """Storage errors end the command with their message, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            result: int = func(args)
        except StorageError as exc:
            print(f"alpr: storage error: {exc}", file=sys.stderr)
            return 2
        return result

    return run


def print_report(report: bucket.BucketReport) -> None:
    for line in report.done:
        print(f"ok        {line}")
    for line in report.unsupported:
        print(f"UNSUPPORTED {line}")
    for line in report.drift:
        print(f"DRIFT     {line}")


@guarded
def run_init(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "storage.init")
    config = ctx.config
    auth.record(ctx, "cloud init", "change", {"target": config.storage.target})
    report = bucket.init(
        target_for(config),
        config.retention_days,
        config.storage.gateway_principal,
        config.evidence.principal,
    )
    print_report(report)
    return 1 if report.drift else 0


@guarded
def run_check(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "storage.check")
    config = ctx.config
    report = bucket.check(
        target_for(config),
        config.retention_days,
        config.storage.gateway_principal,
        config.evidence.principal,
    )
    what = {"target": config.storage.target, "drift": len(report.drift)}
    auth.record(ctx, "cloud check", "view", what, result_count=len(report.drift))
    print_report(report)
    print("no drift" if not report.drift else f"{len(report.drift)} differences from the config")
    return 1 if report.drift else 0


@guarded
def run_verify(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "storage.check")
    config = ctx.config
    late = bucket.verify_retention(target_for(config), config.retention_days, args.grace_days)
    what = {"target": config.storage.target, "grace_days": args.grace_days}
    auth.record(ctx, "cloud verify-retention", "view", what, result_count=len(late))
    for key, age in late:
        print(f"{age:7.1f} days since capture  {key}")
    print(
        f"{len(late)} objects under reads/ captured more than {config.retention_days} + "
        f"{args.grace_days:g} days ago"
    )
    return 1 if late else 0


@guarded
def run_hold(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "evidence.hold")
    config, user = ctx.config, ctx.user.name
    target = evidence_target_for(config)
    evidence.check_read_id(args.read)
    evidence.check_case(args.case)
    need_reason(args.reason, "a hold")
    what = {"case": args.case, "read": args.read}
    auth.record(ctx, "evidence hold", "change", what, why=args.reason, result_count=1)
    keys = hold_read(
        config,
        Store(config.data_dir),
        target,
        args.read,
        args.case,
        user,
        args.reason,
        custody_days(config),
        args.date,
        args.site,
        args.camera,
    )
    print(
        f"read {args.read} held for case {args.case} by {user}: {len(keys)} objects under legal hold"
    )
    return 0


@guarded
def run_release(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "evidence.release")
    config, user = ctx.config, ctx.user.name
    target = evidence_target_for(config)
    evidence.check_case(args.case)
    need_reason(args.reason, "a release")
    if args.read is not None:
        evidence.check_read_id(args.read)
    what = {"case": args.case, "read": args.read}
    auth.record(ctx, "evidence release", "change", what, why=args.reason)
    keys = evidence.release(target, args.case, user, args.reason, args.read, custody_days(config))
    print(f"case {args.case}: legal hold lifted on {len(keys)} objects by {user}")
    return 0


@guarded
def run_export(args: argparse.Namespace) -> int:
    """Evidence leaving the bucket: an inquiry, so it needs a reason and is what an audit samples."""
    ctx = auth.authorize(args, "evidence.export")
    config, user = ctx.config, ctx.user.name
    target = evidence_target_for(config)
    held = evidence.case_objects(target, args.case)
    if not held:
        raise StorageError(f"no evidence held for case {args.case}")
    what = {"case": args.case, "to": str(args.dir.resolve())}
    try:
        auth.record(ctx, "evidence export", "inquiry", what, args.reason, len(held))
    except ValueError as exc:
        print(f"alpr evidence export: {exc}", file=sys.stderr)
        return 2
    manifest = evidence.export(target, args.case, args.dir, user, args.reason, custody_days(config))
    print(f"case {args.case} exported to {args.dir} (manifest {manifest.name}, custody.json)")
    return 0


def run_purge_log(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "retention.proof")
    rows = (
        Store(ctx.config.data_dir)
        .connect()
        .execute("SELECT * FROM purge_log ORDER BY id")
        .fetchall()
    )
    auth.record(ctx, "purge-log", "view", {}, result_count=len(rows))
    for r in rows:
        if args.json:
            print(json.dumps(dict(r)))
            continue
        span = (
            "-"
            if r["oldest"] is None
            else (
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(r['oldest']))} .. "
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(r['newest']))}"
            )
        )
        print(
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(r['at']))}Z  {r['count']:>6} purged  "
            f"({r['reason']})  captured {span}  ids sha256 {r['ids_sha256']}"
        )
    return 0
