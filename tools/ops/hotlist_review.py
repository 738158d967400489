"""`alpr hotlist approve|reject|approve-source|sources`: a manager's review of what may alert.

A requested entry matches nothing until a manager other than the one who entered it approves it;
an imported source is approved once as a whole. Each decision is in the entry's history and in the
audit log.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from gateway import review
from gateway.store import RefusedError, Store
from tools.common import add_config_arg
from tools.ops import auth
from tools.ops.hotlist_cmd_facts import entry_facts


def register_review(hsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ap = hsub.add_parser("approve", help="approve a requested entry: it alerts from now on")
    add_config_arg(ap)
    ap.add_argument("entry", type=int)
    ap.add_argument("--note", default="", help="kept in the entry's history")
    ap.set_defaults(func=run_approve)

    rj = hsub.add_parser("reject", help="reject a requested entry: it never alerts")
    add_config_arg(rj)
    rj.add_argument("entry", type=int)
    rj.add_argument("--reason", required=True, help="why (kept in its history)")
    rj.set_defaults(func=run_reject)

    src = hsub.add_parser(
        "approve-source", help="approve an imported list as a whole (NCIC, a state system)"
    )
    add_config_arg(src)
    src.add_argument("source")
    src.add_argument("--note", default="", help="e.g. the agreement or memo it rests on")
    src.set_defaults(func=run_approve_source)

    ls = hsub.add_parser("sources", help="imported sources: approval, age, staleness, last error")
    add_config_arg(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_sources)


def review_one(args: argparse.Namespace, approve: bool) -> int:
    ctx = auth.authorize(args, "hotlist.approve")
    store = Store(ctx.config.data_dir)
    prog = f"alpr hotlist {'approve' if approve else 'reject'}"
    entry = store.hotlist_entry(args.entry)
    if approve and entry is not None and entry["entered_by"] == ctx.user.name:
        print(
            f"{prog}: {ctx.user.name} entered entry {args.entry}: another manager approves it",
            file=sys.stderr,
        )
        return 2
    reason = args.note if approve else args.reason
    try:
        row = review.review_entry(store, args.entry, ctx.user.name, approve, reason)
    except RefusedError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    action = "hotlist approve" if approve else "hotlist reject"
    facts = {"entry": args.entry, **entry_facts(row)}
    auth.record(ctx, action, "change", facts, why=reason.strip(), result_count=1)
    done = "approved: it alerts from now on" if approve else f"rejected: {reason.strip()}"
    print(f"entry {args.entry} ({row['category']}, case {row['case_number']}) {done}")
    return 0


def run_approve(args: argparse.Namespace) -> int:
    return review_one(args, True)


def run_reject(args: argparse.Namespace) -> int:
    return review_one(args, False)


def run_approve_source(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.approve")
    store = Store(ctx.config.data_dir)
    try:
        count = review.approve_source(store, args.source, ctx.user.name, args.note)
    except RefusedError as exc:
        print(f"alpr hotlist approve-source: {exc}", file=sys.stderr)
        return 2
    what = {"source": args.source, "entries": count}
    auth.record(ctx, "hotlist approve-source", "change", what, why=args.note, result_count=count)
    print(f"source {args.source} approved by {ctx.user.name}: {count} waiting entries now alert")
    return 0


def run_sources(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.view")
    store = Store(ctx.config.data_dir)
    now = time.time()
    states = review.source_states(store, ctx.config.hotlists)
    for s in states:
        d = s.as_dict(now)
        if args.json:
            print(json.dumps(d))
            continue
        age = "never" if d["age_hours"] is None else f"{d['age_hours']} h"
        flags = [
            "STALE" if d["stale"] else "",
            "NOT APPROVED" if not d["approved_by"] else "",
            f"error: {d['last_error']}" if d["last_error"] else "",
        ]
        print(
            f"{s.source:<12} {d['entries']:>8} entries  age {age:<8}"
            f" approved by {d['approved_by'] or '-':<12} {' '.join(f for f in flags if f)}"
        )
    return 0
