"""`alpr hotlist import|add|remove|history|list|lint`, as the logged-in user.

`add` needs `hotlist.request` and makes a requested entry that matches only once a manager approves
it (`hotlist_review`); imports, cancels and approvals need `hotlist.approve` (a manager); looks
`hotlist.view`. Each is a record in the audit log under the name from the login. The plate stays
out of the record: the entry id names it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from gateway import hotlist, review
from gateway.config import Config, ConfigError
from gateway.feeds import import_hotlist
from gateway.store import RefusedError, Store
from tools.common import add_config_arg
from tools.ops import auth
from tools.ops.hotlist_cmd_facts import entry_facts
from tools.ops.hotlist_review import register_review


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("hotlist", help="import, add, list and lint hot-list entries")
    hsub = p.add_subparsers(dest="hotlist_command", required=True)

    imp = hsub.add_parser("import", help="replace a source's entries with a file (HOTLISTS.md)")
    add_config_arg(imp)
    imp.add_argument("file", type=Path)
    imp.add_argument("--source", required=True, help="e.g. ncic, state, local")
    imp.add_argument("--format", default="csv", help="csv, ncic or an import profile of the config")
    imp.add_argument(
        "--max-bad-share",
        type=float,
        help="refuse the file if a larger share of lines is bad "
        "(default: the source's max_bad_share in the config, else 0.05)",
    )
    imp.set_defaults(func=run_import)

    add = hsub.add_parser(
        "add",
        help="request one entry by hand; it alerts once a manager approves it",
    )
    add_config_arg(add)
    add.add_argument("plate", help="full plate, or partial: ? for one character, * for any run")
    add.add_argument("--state")
    add.add_argument("--source", default="local")
    add.add_argument("--category", required=True, help="a category id (alpr hotlist categories)")
    for field in ("case-number", "reason", "contact", "instructions", "expires"):
        add.add_argument(f"--{field}", required=True)
    add.add_argument(
        "--request-ref", required=True, help="the written request's reference (form, memo number)"
    )
    for field in ("vehicle-colour", "vehicle-make", "vehicle-type", "subject", "notes"):
        add.add_argument(f"--{field}", default="", help="shown in every alert of this entry")
    add.add_argument(
        "--site",
        dest="sites",
        action="append",
        default=[],
        help="alert only on reads at this site (repeat for more)",
    )
    add.add_argument("--near", help="LAT,LON: with --radius-m, alert only within the circle")
    add.add_argument("--radius-m", type=float, help="radius around --near, in metres")
    add.set_defaults(func=run_add)

    rm = hsub.add_parser(
        "remove", help="cancel an entry: it never matches again, its history stays"
    )
    add_config_arg(rm)
    rm.add_argument("entry", type=int)
    rm.add_argument("--reason", required=True, help="why it is cancelled (kept in its history)")
    rm.set_defaults(func=run_remove)

    hist = hsub.add_parser("history", help="who added and cancelled an entry, when and why")
    add_config_arg(hist)
    hist.add_argument("entry", type=int)
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(func=run_history)

    ls = hsub.add_parser("list", help="active entries (or the expired ones)")
    add_config_arg(ls)
    ls.add_argument("--expired", action="store_true", help="only the expired entries")
    ls.add_argument("--cancelled", action="store_true", help="only the cancelled entries")
    ls.add_argument(
        "--status", choices=hotlist.STATUSES, help="only entries requested, approved or rejected"
    )
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    lint = hsub.add_parser("lint", help="entries that differ only by characters an OCR confuses")
    add_config_arg(lint)
    lint.set_defaults(func=run_lint)

    cats = hsub.add_parser("categories", help="the categories entries may have")
    add_config_arg(cats)
    cats.set_defaults(func=run_categories)
    register_review(hsub)


def max_bad_share(config: Config, args: argparse.Namespace) -> float:
    if args.max_bad_share is not None:
        return float(args.max_bad_share)
    for source in config.hotlists:
        if source.source == args.source:
            return source.max_bad_share
    return 0.05


def run_import(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.approve")
    config, store = ctx.config, Store(ctx.config.data_dir)
    try:
        fmt = config.hotlist_format(args.format)
    except ConfigError as exc:
        print(f"alpr hotlist import: {exc}", file=sys.stderr)
        return 2
    approved = {s.source for s in review.source_states(store, []) if s.approved_by}
    if args.source not in approved:  # a manager's import approves the source it imports
        review.approve_source(
            store, args.source, ctx.user.name, f"approved at import of {args.file}"
        )
        auth.record(ctx, "hotlist approve-source", "change", {"source": args.source}, why="import")
        print(f"{args.source}: source approved by {ctx.user.name} (at import)")
    try:
        count, errors = import_hotlist(
            store,
            args.file,
            args.source,
            fmt,
            max_bad_share(config, args),
            config.categories,
        )
    except OSError as exc:
        print(
            f"alpr hotlist import: cannot read {args.file}: {exc.strerror}; the previous list stays active",
            file=sys.stderr,
        )
        return 2
    except hotlist.ImportRefused as exc:
        for e in exc.errors[:20]:
            print(f"{args.file}: {e}", file=sys.stderr)
        if len(exc.errors) > 20:
            print(f"{args.file}: ... {len(exc.errors) - 20} more bad lines", file=sys.stderr)
        print(f"alpr hotlist import: {exc}", file=sys.stderr)
        return 2
    auth.record(
        ctx,
        "hotlist import",
        "change",
        {
            "source": args.source,
            "file": str(args.file),
            "format": args.format,
            "rejected": len(errors),
        },
        result_count=count,
    )
    for e in errors:
        print(f"{args.file}: {e}", file=sys.stderr)
    print(f"{args.source}: {count} entries imported, {len(errors)} lines rejected")
    return 1 if errors else 0


def near(text: str | None) -> tuple[str, str]:
    if not text:
        return "", ""
    lat, sep, lon = text.partition(",")
    if not sep:
        raise hotlist.EntryError(f"--near: expected LAT,LON, got {text!r}")
    return lat.strip(), lon.strip()


def run_add(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.request")
    store = Store(ctx.config.data_dir)
    fields: dict[str, object] = {
        k: getattr(args, k) for k in hotlist.ENTRY_FIELDS if k != "requested_by"
    }
    fields["requested_by"] = ctx.user.name
    fields.update({k: getattr(args, k) for k in hotlist.DESCRIPTION_FIELDS})
    if not args.request_ref.strip():
        print("alpr hotlist add: --request-ref must not be empty", file=sys.stderr)
        return 2
    try:
        fields["lat"], fields["lon"] = near(args.near)
        fields["sites"] = args.sites
        fields["radius_m"] = args.radius_m
        unknown = sorted(set(args.sites) - set(ctx.config.sites))
        if unknown:
            raise hotlist.EntryError(f"--site: unknown site {unknown[0]!r}")
        entry = hotlist.make_entry(fields, args.source, ctx.config.categories)
    except hotlist.EntryError as exc:
        print(f"alpr hotlist add: {exc}", file=sys.stderr)
        return 2
    if entry.expired():
        print(f"alpr hotlist add: expires: {entry.expires} is already past", file=sys.stderr)
        return 2
    facts = entry_facts(entry._asdict())
    entry_id = store.add_hotlist_entry(entry, ctx.user.name, args.request_ref.strip())
    facts = {"entry": entry_id, "request_ref": args.request_ref.strip(), **facts}
    auth.record(ctx, "hotlist request", "change", facts, why=entry.reason, result_count=1)
    print(
        f"requested entry {entry_id}: {entry.plate} ({entry.category}, case {entry.case_number}),"
        f" expires {entry.expires}; it alerts once a manager approves it"
        f" (alpr hotlist approve {entry_id})"
    )
    return 0


def cancel_entry(ctx: auth.Context, store: Store, entry_id: int, reason: str, prog: str) -> int:
    """Cancel one entry, record it and say so; shared by `hotlist remove` and `hits disposition`.

    The caller has checked `hotlist.approve`."""
    try:
        row = store.cancel_hotlist_entry(entry_id, ctx.user.name, reason)
    except RefusedError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    facts = {"entry": entry_id, **entry_facts(row)}
    auth.record(ctx, "hotlist cancel", "change", facts, why=reason.strip(), result_count=1)
    print(
        f"cancelled entry {entry_id}: {row['plate']} ({row['category']}, case {row['case_number']})"
        f" by {ctx.user.name}: {reason}"
    )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.approve")
    store = Store(ctx.config.data_dir)
    return cancel_entry(ctx, store, args.entry, args.reason, "alpr hotlist remove")


def run_history(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.view")
    store = Store(ctx.config.data_dir)
    entry = store.hotlist_entry(args.entry)
    events = [dict(r) for r in store.hotlist_history(args.entry)]
    if entry is None and not events:
        print(f"alpr hotlist history: no hot-list entry {args.entry}", file=sys.stderr)
        return 2
    if entry is not None and not any(e["action"] in ("added", "requested") for e in events):
        # imported entries carry no history row each (a list may hold a million): their import is it
        events.insert(
            0,
            {
                "entry_id": args.entry,
                "at": entry["added"],
                "user": f"import of source {entry['source']}",
                "action": "imported",
                "reason": entry["reason"],
                "entry": json.dumps(dict(entry)),
            },
        )
    auth.record(ctx, "hotlist history", "view", {"entry": args.entry}, result_count=len(events))
    for e in events:
        if args.json:
            print(json.dumps({**e, "entry": json.loads(e["entry"])}))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"]))
            print(f"{when}Z {e['action']:<10} {e['user']:<24} {e['reason']}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.view")
    store = Store(ctx.config.data_dir)
    rows = store.hotlist_rows(
        expired=None if args.cancelled else args.expired,
        today=dt.datetime.now(dt.UTC).date().isoformat(),
        cancelled=args.cancelled,
    )
    if args.status:
        rows = [r for r in rows if r["status"] == args.status]
    what = {"expired": args.expired, "cancelled": args.cancelled, "status": args.status}
    auth.record(ctx, "hotlist list", "view", what, result_count=len(rows))
    for r in rows:
        if args.json:
            print(json.dumps(dict(r)))
        else:
            print(
                f"{r['id']:>7} {r['plate']:<9} {r['state'] or '--':<3} {r['source']:<8} {r['category']:<16}"
                f" case {r['case_number']:<12} expires {r['expires']} {r['status']}"
            )
    return 0


def run_lint(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.view")
    store = Store(ctx.config.data_dir)
    rows = store.hotlist_rows()
    pairs = hotlist.confusable_pairs((r["id"], r["plate"]) for r in rows)
    auth.record(ctx, "hotlist lint", "view", {"pairs": len(pairs)}, result_count=len(rows))
    for ia, a, ib, b in pairs:
        print(f"entries {ia} {a} and {ib} {b} differ only by confusable characters")
    print(f"{len(rows)} entries, {len(pairs)} confusable pairs")
    return 1 if pairs else 0


def run_categories(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.view")
    for name, label in ctx.config.categories.items():
        print(f"{name:<18} {label}")
    return 0
