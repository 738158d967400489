"""`alpr share request|approve|deny|fulfil|list|log`: releasing data to another agency on a written,
approved request, with a package that proves what was sent and a secondary dissemination log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.access import audit
from gateway.sharing import release, requests
from gateway.store import Store
from tools.common import add_config_arg
from tools.ops import auth
from tools.ops.records import parse_time


def _parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, func: object
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help)
    add_config_arg(p)
    p.set_defaults(func=func, cmd=f"share {name}")
    return p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("share", help="release reads to another agency on an approved request")
    s = p.add_subparsers(dest="share_command", required=True)
    r = _parser(s, "request", "record another agency's written request", run_request)
    r.add_argument("--agency", required=True, help="the requesting agency")
    r.add_argument("--requester", required=True, help="the person asking, with rank or title")
    r.add_argument("--contact", required=True, help="phone or address of the requester")
    r.add_argument("--purpose", required=True)
    r.add_argument("--case", dest="case_number", required=True, help="their case number")
    r.add_argument("--plate", action="append", default=[], help="a plate (? and * allowed); repeat")
    r.add_argument("--since", type=parse_time, help="ISO date/time (UTC) or Unix seconds")
    r.add_argument("--until", type=parse_time)
    r.add_argument("--site", action="append", default=[], help="only these sites; repeat")
    a = _parser(s, "approve", "approve a request (manager; chief without an MOU)", run_approve)
    a.add_argument("id", type=int)
    a.add_argument("--verified-by", required=True, help="how the requester's identity was verified")
    a.add_argument("--note", default="", help="required when the agency has no MOU")
    d = _parser(s, "deny", "deny a request", run_deny)
    d.add_argument("id", type=int)
    d.add_argument("--reason", required=True)
    f = _parser(
        s, "fulfil", "export an approved request's reads with manifest and cover sheet", run_fulfil
    )
    f.add_argument("id", type=int)
    f.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    ls = _parser(s, "list", "requests and their status", run_list)
    ls.add_argument("--status", choices=requests.STATUSES)
    ls.add_argument("--json", action="store_true")
    lg = _parser(s, "log", "the secondary dissemination log", run_log)
    lg.add_argument("--csv", type=Path, help="write it as CSV to this file")
    lg.add_argument("--json", action="store_true")


def _fail(exc: Exception) -> int:
    print(f"alpr share: {exc}", file=sys.stderr)
    return 2


def run_request(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "share.request")
    query = requests.Query(tuple(args.plate), args.since, args.until, tuple(args.site))
    unknown = sorted(set(args.site) - set(ctx.config.sites))
    if unknown:
        return _fail(ValueError(f"--site: unknown site {unknown[0]!r}"))
    req = requests.Request(
        args.agency, args.requester, args.contact, args.purpose, args.case_number, query
    )
    try:
        share_id = requests.create(ctx.db, req, ctx.user.name, ctx.source)
    except requests.ShareError as exc:
        return _fail(exc)
    print(f"share request {share_id} recorded: it needs an approval (alpr share approve)")
    agency = requests.find_agency(ctx.config.sharing.agencies, args.agency)
    if requests.mou_note(agency) is None:
        why = "is not in [[sharing.agencies]]" if agency is None else "has no MOU on file"
        print(f"note: {args.agency} {why}: only the chief ({requests.CHIEF_ROLE}) may approve it")
    return 0


def run_approve(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "share.approve")
    try:
        row = requests.approve(
            ctx.db, args.id, ctx.user, args.verified_by, args.note,
            ctx.config.sharing.agencies, ctx.source,
        )  # fmt: skip
    except requests.ShareError as exc:
        return _fail(exc)
    print(f"share {args.id} approved by {ctx.user.name}: {requests.mou_text(row)}")
    return 0


def run_deny(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "share.approve")
    try:
        requests.deny(ctx.db, args.id, ctx.user.name, args.reason, ctx.source)
    except requests.ShareError as exc:
        return _fail(exc)
    print(f"share {args.id} denied")
    return 0


def run_fulfil(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "share.fulfil")
    try:
        pkg = release.fulfil(
            ctx.db, Store(ctx.config.data_dir), args.id, ctx.user.name, args.out,
            ctx.config.sharing.agencies, ctx.config.agency, ctx.source,
        )  # fmt: skip
    except (requests.ShareError, FileExistsError) as exc:
        return _fail(exc)
    print(
        f"share {args.id}: {pkg.reads} reads, {len(pkg.files)} files in {pkg.out}"
        f" (manifest SHA-256 {pkg.manifest_sha256}); print {pkg.out / 'cover.html'}"
    )
    for left in pkg.left_out:
        print(f"left out: read {left['read']}: {left['reason']}", file=sys.stderr)
    return 0


def _record_view(ctx: auth.Context, action: str, count: int) -> None:
    audit.append(ctx.db, ctx.user.name, action, kind="view", source=ctx.source, result_count=count)


def run_list(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "share.view")
    rows = requests.listing(ctx.db, args.status)
    _record_view(ctx, "share list", len(rows))
    for r in rows:
        if args.json:
            print(json.dumps(r))
        else:
            print(
                f"{r['id']:>4} {r['status']:<10} {r['agency']:<28} case {r['case_number']:<12}"
                f" {r['purpose']}"
            )
    return 0


def run_log(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "share.view")
    rows = requests.dissemination_log(ctx.db)
    _record_view(ctx, "share log", len(rows))
    if args.csv:
        write_csv(args.csv, rows)
        print(f"{len(rows)} releases written to {args.csv}")
        return 0
    for r in rows:
        if args.json:
            print(json.dumps(r))
        else:
            print(
                f"{r['at'][:19]}Z share {r['share_id']}: {r['reads']} reads to {r['agency']}"
                f" ({r['requester']}), case {r['case_number']}, {r['purpose']};"
                f" approved {r['approved_by']}, released {r['released_by']}; {r['mou']}"
            )
    return 0


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        requests.write_log_csv(f, rows)
