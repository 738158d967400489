"""`alpr audit verify|log|head|purge|sample|finding|data-error|report`: the tamper-evident log and
the annual audit. Each command is itself written to the log."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from cloud.storage import StorageError, Target, open_target
from gateway import config as cfg
from gateway.access import annual, audit
from tools.common import add_config_arg
from tools.ops import auth


def when(text: str) -> str:
    """ISO date or date-time (UTC unless a zone is given), or Unix seconds, as the log stores it."""
    try:
        return audit.iso(float(text))
    except ValueError:
        pass
    try:
        return audit.iso(dt.datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date/time or Unix seconds, got {text!r}"
        ) from None


def _parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, func: object
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help)
    add_config_arg(p)
    p.set_defaults(func=func, cmd=f"audit {name}")
    return p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("audit", help="the audit log and the annual audit")
    s = a.add_subparsers(dest="audit_command", required=True)
    v = _parser(s, "verify", "check the hash chain (and exported heads)", run_verify)
    src = v.add_mutually_exclusive_group()
    src.add_argument("--heads", metavar="URL", help="storage holding audit/heads/ to compare with")
    src.add_argument(
        "--heads-from-bucket",
        action="store_true",
        help="compare with the heads the gateway wrote to the configured storage target",
    )
    lg = _parser(s, "log", "records in a period", run_log)
    lg.add_argument("--from", dest="start", type=when, required=True)
    lg.add_argument("--to", dest="end", type=when, required=True)
    lg.add_argument("--user")
    lg.add_argument("--json", action="store_true")
    h = _parser(s, "head", "the newest record's number and hash (write it daily)", run_head)
    h.add_argument(
        "--write", metavar="URL", help="store it, locked, under audit/heads/ at file:// or s3://"
    )
    pu = _parser(s, "purge", "delete records past the retention, keeping the chain", run_purge)
    pu.add_argument("--days", type=int, help="default: the audit_retention_days setting")
    sa = _parser(s, "sample", "draw inquiries at random for the annual audit", run_sample)
    sa.add_argument("--from", dest="start", type=when, required=True)
    sa.add_argument("--to", dest="end", type=when, required=True)
    sa.add_argument("--n", type=int, default=10)
    sa.add_argument("--seed", help="default: a random one, recorded with the sample")
    sa.add_argument("--json", action="store_true")
    f = _parser(s, "finding", "a verdict on one sampled inquiry", run_finding)
    f.add_argument("item", type=int, help="the sample item number")
    f.add_argument("--verdict", required=True, choices=annual.VERDICTS)
    f.add_argument("--note", required=True)
    de = _parser(s, "data-error", "a data error found and how it was corrected", run_data_error)
    de.add_argument("--ref", required=True, help="what was wrong: read, hit or hot-list entry id")
    de.add_argument("--error", required=True)
    de.add_argument("--correction", required=True)
    de.add_argument("--sample", type=int, help="the audit it belongs to (default: newest)")
    r = _parser(s, "report", "the printable HTML report of a sample", run_report)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--sample", type=int, help="default: the newest")


def _fail(exc: Exception) -> int:
    print(f"alpr: {exc}", file=sys.stderr)
    return 2


def _target(config: cfg.Config, url: str) -> Target:
    st = config.storage
    if not url.startswith("s3://"):
        return open_target(url, base=st.base)
    access, secret = st.credentials()
    return open_target(url, st.endpoint, access, secret, st.region, st.base, st.sse_c_key())


def run_verify(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.verify")
    heads: list[audit.Head] = []
    url = ctx.config.storage.target if args.heads_from_bucket else args.heads
    try:
        if url:
            heads = audit.exported_heads(_target(ctx.config, url))
    except (StorageError, ValueError) as exc:
        return _fail(ValueError(f"cannot read the exported heads from {url}: {exc}"))
    if url and not heads:
        print(f"alpr: warning: no audit heads under {url}/{audit.HEAD_PREFIX}", file=sys.stderr)
    check = audit.verify(ctx.db, heads)
    audit.append(
        ctx.db,
        ctx.user.name,
        "audit verify",
        kind="audit",
        what={"ok": check.ok, "first_bad": check.first_bad, "heads": len(heads), "from": url},
        source=ctx.source,
        result_count=check.checked,
    )
    if not check.ok:
        print(f"audit log does NOT verify: {check.problem}", file=sys.stderr)
        return 1
    print(f"audit log verifies: {check.checked} records, {len(heads)} exported heads matched")
    return 0


def run_log(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.read")
    rows = list(audit.records(ctx.db, args.start, args.end, args.user))
    audit.append(
        ctx.db,
        ctx.user.name,
        "audit log",
        kind="audit",
        what={"from": args.start, "to": args.end, "user": args.user},
        source=ctx.source,
        result_count=len(rows),
    )
    for r in rows:
        if args.json:
            print(json.dumps({**r, "what": json.loads(r["what"])}))
        else:
            print(
                f"{r['seq']:>7} {r['at'][:19]}Z {r['user']:<14} {r['action']:<18} "
                f"{r['result_count']:>5}  {r['why']}  {r['what']}  [{r['source']}]"
            )
    return 0


def run_head(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.head")
    h = audit.head(ctx.db)
    if h is None:
        return _fail(ValueError("the audit log is empty"))
    print(json.dumps(h.__dict__))
    if args.write:
        try:
            target = _target(ctx.config, args.write)
            key = audit.write_head(target, h, ctx.config.retention.access_log_days)
        except (StorageError, ValueError) as exc:
            return _fail(ValueError(f"cannot write the head to {args.write}: {exc}"))
        audit.append(
            ctx.db,
            ctx.user.name,
            "audit head",
            kind="audit",
            what={**h.__dict__, "key": key},
            source=ctx.source,
        )
        print(f"written to {args.write.rstrip('/')}/{key}")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.purge")
    days = args.days or ctx.settings.audit_retention_days
    if days < 1:
        return _fail(ValueError(f"--days must be at least 1, got {days}"))
    count = audit.purge(ctx.db, days, ctx.user.name, ctx.source)
    print(f"purged {count} audit records older than {days} days")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.conduct")
    try:
        sid = annual.sample(
            ctx.db, args.start, args.end, args.n, args.seed, ctx.user.name, ctx.source
        )
    except annual.AuditError as exc:
        return _fail(exc)
    s = annual.get_sample(ctx.db, sid)
    chosen = annual.items(ctx.db, sid)
    if args.json:
        print(json.dumps({**s, "items": chosen}))
        return 0
    print(
        f"sample {sid}: {len(chosen)} of {s['population']} inquiries, "
        f"{s['period_from']} .. {s['period_to']}, seed {s['seed']}"
    )
    for i in chosen:
        r = i["record"]
        print(
            f"  item {i['id']:>4}  record {r['seq']:>7} {r['at'][:19]}Z {r['user']:<14} {r['why']}"
        )
    return 0


def run_finding(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.conduct")
    try:
        annual.finding(ctx.db, args.item, args.verdict, args.note, ctx.user.name, ctx.source)
    except annual.AuditError as exc:
        return _fail(exc)
    print(f"item {args.item}: {args.verdict}")
    return 0


def run_data_error(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.conduct")
    try:
        n = annual.data_error(
            ctx.db, args.ref, args.error, args.correction, ctx.user.name, ctx.source, args.sample
        )
    except annual.AuditError as exc:
        return _fail(exc)
    print(f"data error {n} recorded")
    return 0


def run_report(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "audit.export")
    try:
        html = annual.render(ctx.db, ctx.config.agency, args.sample)
    except annual.AuditError as exc:
        return _fail(exc)
    args.out.write_text(html)
    audit.append(
        ctx.db,
        ctx.user.name,
        "audit report",
        kind="audit",
        what={"sample": args.sample, "out": str(args.out)},
        source=ctx.source,
    )
    print(f"report written to {args.out}")
    return 0
