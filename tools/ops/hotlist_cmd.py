"""`alpr hotlist import|add|remove|history|list|lint`, as the logged-in user.

Changes need `hotlist.approve` (a manager: an entry is live at once), looks `hotlist.view`; each is
a record in the audit log under the name from the login. The plate stays out of the record: the
entry id names it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from gateway import hotlist
from gateway.config import Config
from gateway.service import import_hotlist
from gateway.store import RefusedError, Store
from tools.common import add_config_arg
from tools.ops import auth


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("hotlist", help="import, add, list and lint hot-list entries")
    hsub = p.add_subparsers(dest="hotlist_command", required=True)

    imp = hsub.add_parser("import", help="replace a source's entries with a file (HOTLISTS.md)")
    add_config_arg(imp)
    imp.add_argument("file", type=Path)
    imp.add_argument("--source", required=True, help="e.g. ncic, state, local")
    imp.add_argument("--format", choices=["csv", "ncic"], default="csv")
    imp.add_argument(
        "--max-bad-share",
        type=float,
        help="refuse the file if a larger share of lines is bad "
        "(default: the source's max_bad_share in the config, else 0.05)",
    )
    imp.set_defaults(func=run_import)

    add = hsub.add_parser(
        "add", help="add one entry by hand (every field is required but the state)"
    )
    add_config_arg(add)
    add.add_argument("plate", help="full plate, or partial: ? for one character, * for any run")
    add.add_argument("--state")
    add.add_argument("--source", default="local")
    add.add_argument("--category", required=True, choices=sorted(hotlist.CATEGORIES))
    for field in ("case-number", "reason", "requested-by", "contact", "instructions", "expires"):
        add.add_argument(f"--{field}", required=True)
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
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    lint = hsub.add_parser("lint", help="entries that differ only by characters an OCR confuses")
    add_config_arg(lint)
    lint.set_defaults(func=run_lint)


def max_bad_share(config: Config, args: argparse.Namespace) -> float:
    if args.max_bad_share is not None:
        return float(args.max_bad_share)
    for source in config.hotlists:
        if source.source == args.source:
            return source.max_bad_share
    return 0.05


def entry_facts(row: Any) -> dict[str, Any]:
    """What the audit record says of an entry: everything that names it but its plate."""
    return {k: str(row[k]) for k in ("source", "category", "case_number", "expires")}


def run_import(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.approve")
    config, store = ctx.config, Store(ctx.config.data_dir)
    try:
        count, errors = import_hotlist(
            store, args.file, args.source, args.format, max_bad_share(config, args)
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
        {"source": args.source, "file": str(args.file), "format": args.format, "rejected": len(errors)},
        result_count=count,
    )
    for e in errors:
        print(f"{args.file}: {e}", file=sys.stderr)
    print(f"{args.source}: {count} entries imported, {len(errors)} lines rejected")
    return 1 if errors else 0


def run_add(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hotlist.approve")
    store = Store(ctx.config.data_dir)
    fields = {k: getattr(args, k) for k in hotlist.ENTRY_FIELDS}
    try:
        entry = hotlist.make_entry(fields, args.source)
    except hotlist.EntryError as exc:
        print(f"alpr hotlist add: {exc}", file=sys.stderr)
        return 2
    if entry.expired():
        print(f"alpr hotlist add: expires: {entry.expires} is already past", file=sys.stderr)
        return 2
    facts = entry_facts(entry._asdict())
    entry_id = store.add_hotlist_entry(entry, ctx.user.name)
    facts = {"entry": entry_id, **facts}
    auth.record(ctx, "hotlist add", "change", facts, why=entry.reason, result_count=1)
    print(
        f"added entry {entry_id}: {entry.plate} ({entry.category}, case {entry.case_number}), "
        f"expires {entry.expires}"
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
    if entry is not None and not any(e["action"] == "added" for e in events):
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
    what = {"expired": args.expired, "cancelled": args.cancelled}
    auth.record(ctx, "hotlist list", "view", what, result_count=len(rows))
    for r in rows:
        if args.json:
            print(json.dumps(dict(r)))
        else:
            print(
                f"{r['id']:>7} {r['plate']:<9} {r['state'] or '--':<3} {r['source']:<8} {r['category']:<16}"
                f" case {r['case_number']:<12} expires {r['expires']}"
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
