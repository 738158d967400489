"""`alpr hotlist import|add|list|lint`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from gateway import hotlist
from gateway.service import import_hotlist
from tools.common import add_config_arg, open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("hotlist", help="import, add, list and lint hot-list entries")
    hsub = p.add_subparsers(dest="hotlist_command", required=True)

    imp = hsub.add_parser("import", help="replace a source's entries with a file (HOTLISTS.md)")
    add_config_arg(imp)
    imp.add_argument("file", type=Path)
    imp.add_argument("--source", required=True, help="e.g. ncic, state, local")
    imp.add_argument("--format", choices=["csv", "ncic"], default="csv")
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

    ls = hsub.add_parser("list", help="active entries (or the expired ones)")
    add_config_arg(ls)
    ls.add_argument("--expired", action="store_true", help="only the expired entries")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    lint = hsub.add_parser("lint", help="entries that differ only by characters an OCR confuses")
    add_config_arg(lint)
    lint.set_defaults(func=run_lint)


def run_import(args: argparse.Namespace) -> int:
    _, store = open_store(args)
    try:
        count, errors = import_hotlist(store, args.file, args.source, args.format)
    except OSError as exc:
        print(
            f"alpr hotlist import: cannot read {args.file}: {exc.strerror}; the previous list stays active",
            file=sys.stderr,
        )
        return 2
    for e in errors:
        print(f"{args.file}: {e}", file=sys.stderr)
    print(f"{args.source}: {count} entries imported, {len(errors)} lines rejected")
    return 1 if errors else 0


def run_add(args: argparse.Namespace) -> int:
    _, store = open_store(args)
    fields = {k: getattr(args, k) for k in hotlist.ENTRY_FIELDS}
    try:
        entry = hotlist.make_entry(fields, args.source)
    except hotlist.EntryError as exc:
        print(f"alpr hotlist add: {exc}", file=sys.stderr)
        return 2
    if entry.expired():
        print(f"alpr hotlist add: expires: {entry.expires} is already past", file=sys.stderr)
        return 2
    entry_id = store.add_hotlist_entry(entry)
    print(
        f"added entry {entry_id}: {entry.plate} ({entry.category}, case {entry.case_number}), "
        f"expires {entry.expires}"
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    _, store = open_store(args)
    rows = store.hotlist_rows(
        expired=args.expired, today=dt.datetime.now(dt.UTC).date().isoformat()
    )
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
    _, store = open_store(args)
    rows = store.hotlist_rows()
    pairs = hotlist.confusable_pairs((r["id"], r["plate"]) for r in rows)
    for ia, a, ib, b in pairs:
        print(f"entries {ia} {a} and {ib} {b} differ only by confusable characters")
    print(f"{len(rows)} entries, {len(pairs)} confusable pairs")
    return 1 if pairs else 0
