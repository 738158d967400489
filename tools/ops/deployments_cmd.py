"""`alpr deployments add|approve|deny|list|report`: special details (nontraditional deployments),
approved before they count, with their results kept; and each site's results over a period."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from gateway import deployments as dep
from gateway.access import audit
from gateway.results import OUTCOMES, Results, by_site
from gateway.store import Store
from tools.common import add_config_arg
from tools.ops import auth
from tools.ops.records import parse_time

DAY_S = 86400


def _parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, func: object
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help)
    add_config_arg(p)
    p.set_defaults(func=func, cmd=f"deployments {name}")
    return p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("deployments", help="special details: approval, dates, places, results")
    s = p.add_subparsers(dest="deployments_command", required=True)
    a = _parser(s, "add", "record a special detail for approval", run_add)
    a.add_argument("--purpose", required=True)
    a.add_argument("--start", type=parse_time, required=True, help="ISO date/time (UTC)")
    a.add_argument("--end", type=parse_time, required=True)
    a.add_argument("--site", action="append", default=[], help="a site used; repeat")
    a.add_argument("--camera", action="append", default=[], help="a temporary camera; repeat")
    ap = _parser(s, "approve", "approve a detail (manager or chief)", run_approve)
    ap.add_argument("id", type=int)
    ap.add_argument("--note", default="")
    dn = _parser(s, "deny", "deny a detail", run_deny)
    dn.add_argument("id", type=int)
    dn.add_argument("--reason", required=True)
    ls = _parser(s, "list", "every detail and its status", run_list)
    ls.add_argument("--json", action="store_true")
    r = _parser(s, "report", "results of each approved detail and of each site", run_report)
    r.add_argument("--from", dest="start", type=parse_time, help="sites' period (default: 30 days)")
    r.add_argument("--to", dest="end", type=parse_time)
    r.add_argument("--json", action="store_true")


def _fail(exc: Exception) -> int:
    print(f"alpr deployments: {exc}", file=sys.stderr)
    return 2


def utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


def run_add(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "deployments.request")
    detail = dep.Detail(args.purpose, args.start, args.end, tuple(args.site), tuple(args.camera))
    try:
        dep_id = dep.add(ctx.db, detail, ctx.config, ctx.user.name, ctx.source)
    except dep.DeploymentError as exc:
        return _fail(exc)
    print(f"deployment {dep_id} recorded: it needs an approval (alpr deployments approve)")
    return 0


def _decide(args: argparse.Namespace, approve: bool, note: str) -> int:
    ctx = auth.authorize(args, "deployments.approve")
    try:
        dep.decide(ctx.db, args.id, approve, ctx.user.name, note, ctx.source)
    except dep.DeploymentError as exc:
        return _fail(exc)
    print(f"deployment {args.id} {'approved' if approve else 'denied'} by {ctx.user.name}")
    return 0


def run_approve(args: argparse.Namespace) -> int:
    return _decide(args, True, args.note)


def run_deny(args: argparse.Namespace) -> int:
    return _decide(args, False, args.reason)


def run_list(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "deployments.view")
    for d in dep.listing(ctx.db):
        if args.json:
            print(json.dumps(d))
            continue
        where = ", ".join(d["sites"] + [f"camera {c}" for c in d["cameras"]])
        print(
            f"{d['id']:>4} {d['status']:<9} {utc(d['start'])} .. {utc(d['end'])}  {where}:"
            f" {d['purpose']} ({d['decided_by'] or 'not decided'})"
        )
    return 0


def line(name: str, r: Results | dict[str, object]) -> str:
    doc = dataclasses.asdict(r) if isinstance(r, Results) else r
    outcomes = doc["by_outcome"]
    assert isinstance(outcomes, dict)
    shown = ", ".join(f"{k} {outcomes.get(k, 0)}" for k in OUTCOMES)
    return f"  {name:<28} reads {doc['reads']:>7}  hits {doc['hits']:>5}  ({shown})"


def run_report(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "deployments.view")
    store = Store(ctx.config.data_dir)
    now = time.time()
    start = args.start if args.start is not None else now - 30 * DAY_S
    end = args.end if args.end is not None else now
    details = dep.report(ctx.db, store, now)
    sites = by_site(store, ctx.config.sites, start, end)
    audit.append(
        ctx.db, ctx.user.name, "deployments report", kind="view", source=ctx.source,
        result_count=len(details),
    )  # fmt: skip
    if args.json:
        print(json.dumps({
            "details": details,
            "sites": {k: dataclasses.asdict(v) for k, v in sites.items()},
            "sites_from": start, "sites_to": end,
        }))  # fmt: skip
        return 0
    print("special details (approved):")
    for d in details:
        kept = f", kept {d['results_at'][:10]}" if d.get("results_at") else ""
        print(
            f" {d['id']}: {d['purpose']} ({utc(d['start'])} .. {utc(d['end'])}, {d['state']}{kept})"
        )
        print(line("results", d["results"]))
    print(f"sites, {utc(start)} .. {utc(end)}:")
    for site_id, r in sites.items():
        print(line(f"{site_id} ({ctx.config.sites[site_id].status})", r))
    return 0
