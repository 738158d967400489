"""`alpr reads list` and `alpr hits list|disposition`. Every look is written to the access log."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
import time
from typing import Any

from gateway import corrections
from tools.common import add_config_arg, open_store

DISPOSITIONS = ("confirmed", "misread", "no-longer-wanted", "not-located", "other")


def parse_time(text: str) -> float:
    """ISO date or date-time (UTC when no zone is given), or Unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date/time or Unix seconds, got {text!r}"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def add_who(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", default=getpass.getuser(), help="who is looking (logged)")
    p.add_argument("--reason", default="", help="case number or reason for the search (logged)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("reads", help="plate reads stored on this gateway")
    rsub = r.add_subparsers(dest="reads_command", required=True)
    ls = rsub.add_parser("list", help="list reads (access is logged)")
    add_config_arg(ls)
    add_who(ls)
    ls.add_argument("--plate", help="plate text; ? and * wildcards allowed")
    ls.add_argument("--since", type=parse_time)
    ls.add_argument("--limit", type=int, default=1000)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_reads)
    rc = rsub.add_parser(
        "correct", help="record the true text of a misread (its crop joins the corrections set)"
    )
    add_config_arg(rc)
    rc.add_argument("read", help="read id")
    rc.add_argument("--text", required=True, help="the plate as it really is")
    rc.add_argument("--user", required=True)
    rc.set_defaults(func=run_correct)

    h = sub.add_parser("hits", help="hot-list hits and their dispositions")
    hsub = h.add_subparsers(dest="hits_command", required=True)
    hl = hsub.add_parser("list", help="list hits (access is logged)")
    add_config_arg(hl)
    add_who(hl)
    hl.add_argument("--open", action="store_true", help="only hits with no disposition yet")
    hl.add_argument("--json", action="store_true")
    hl.set_defaults(func=run_hits)
    hd = hsub.add_parser("disposition", help="record what came of a hit")
    add_config_arg(hd)
    hd.add_argument("hit", type=int)
    hd.add_argument("--status", required=True, choices=DISPOSITIONS)
    hd.add_argument("--note", required=True)
    hd.add_argument("--user", required=True)
    hd.add_argument(
        "--text", help="misread: the plate as it really is (the crop joins the corrections set)"
    )
    hd.set_defaults(func=run_disposition)


def read_json(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["alternates"] = json.loads(out["alternates"])
    out["box"] = json.loads(out["box"])
    return out


def run_reads(args: argparse.Namespace) -> int:
    _, store = open_store(args)
    sql, params = "SELECT * FROM reads WHERE 1=1", []
    if args.plate:
        sql += " AND text GLOB ?"
        params.append(args.plate.upper())
    if args.since is not None:
        sql += " AND captured >= ?"
        params.append(args.since)
    rows = (
        store.connect()
        .execute(sql + " ORDER BY captured DESC LIMIT ?", [*params, args.limit])
        .fetchall()
    )
    store.log_access(
        args.user,
        "reads list",
        args.reason,
        {"plate": args.plate, "since": args.since, "limit": args.limit},
        len(rows),
    )
    for row in rows:
        if args.json:
            print(json.dumps(read_json(row)))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["captured"]))
            print(
                f"{when}Z {row['camera']:<10} {row['text']:<9} {row['confidence']:.2f}  {row['id']}"
            )
    return 0


def run_hits(args: argparse.Namespace) -> int:
    _, store = open_store(args)
    sql = (
        "SELECT hits.*, reads.text, reads.camera, reads.captured, reads.confidence FROM hits"
        " JOIN reads ON reads.id = hits.read_id"
    )
    if args.open:
        sql += " WHERE hits.disposition IS NULL"
    rows = store.connect().execute(sql + " ORDER BY hits.id").fetchall()
    store.log_access(args.user, "hits list", args.reason, {"open": args.open}, len(rows))
    for row in rows:
        out = dict(row)
        out["entry"] = json.loads(out["entry"])
        if args.json:
            print(json.dumps(out))
        else:
            e = out["entry"]
            print(
                f"hit {row['id']:>5}  {row['text']:<9} {row['match_kind']:<9} {e['category']:<15} "
                f"case {e['case_number']:<10} {row['camera']:<8} {row['disposition'] or 'OPEN'}"
            )
    return 0


def run_correct(args: argparse.Namespace) -> int:
    _, store = open_store(args)
    try:
        path = corrections.add(store, args.read, args.text, args.user)
    except corrections.CorrectionError as exc:
        print(f"alpr reads correct: {exc}", file=sys.stderr)
        return 2
    store.log_access(args.user, "reads correct", "correction", {"read": args.read}, 1)
    print(f"read {args.read}: corrected to {args.text.upper()} by {args.user} ({path})")
    return 0


def run_disposition(args: argparse.Namespace) -> int:
    _, store = open_store(args)
    if not args.note.strip() or not args.user.strip():
        print("alpr hits disposition: --note and --user must not be empty", file=sys.stderr)
        return 2
    if args.text and args.status != "misread":
        print("alpr hits disposition: --text is only for --status misread", file=sys.stderr)
        return 2
    db = store.connect()
    if args.text:  # checked before the disposition is written, so a bad text changes nothing
        hit = db.execute("SELECT read_id FROM hits WHERE id=?", (args.hit,)).fetchone()
        if hit is None:
            print(f"alpr hits disposition: no hit {args.hit}", file=sys.stderr)
            return 2
        try:
            corrections.add(store, hit["read_id"], args.text, args.user)
        except corrections.CorrectionError as exc:
            print(f"alpr hits disposition: {exc}", file=sys.stderr)
            return 2
    cur = db.execute(
        "UPDATE hits SET disposition=?, disposition_note=?, disposition_user=?, disposition_at=? WHERE id=?",
        (args.status, args.note.strip(), args.user.strip(), time.time(), args.hit),
    )
    if not cur.rowcount:
        print(f"alpr hits disposition: no hit {args.hit}", file=sys.stderr)
        return 2
    store.log_access(args.user, "hits disposition", args.status, {"hit": args.hit}, 1)
    print(f"hit {args.hit}: {args.status} by {args.user}")
    if args.status == "misread" and not args.text:
        print("  (give --text with the true plate to add the crop to the corrections set)")
    return 0
