"""`alpr reads list` and `alpr hits list|disposition`, as the logged-in user (`hits verify`,
`outcome`, `history` and `export` are in `hits_cmd`).

Every look and every disposition is a record in the audit log (who, when, from where, what, why,
how many results) before anything is shown. The plate text of a search stays out of the audit log,
whose records never change: it goes to the store's access_log row that the record names, which
retention blanks after `access_log_plates_days`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from typing import Any

from gateway import corrections, hit_events
from gateway.access.roles import RECENT_HOURS
from gateway.hit_events import DISPOSITIONS
from gateway.retention import PLATE_KEYS
from gateway.store import RefusedError, Store
from tools.common import add_config_arg
from tools.ops import auth
from tools.ops.hits_cmd import register_outcomes
from tools.ops.hotlist_cmd import cancel_entry


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


def add_reason(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reason", required=True, help="case number or reason for the search (audit log)"
    )


def record_look(
    ctx: auth.Context,
    store: Store,
    action: str,
    reason: str,
    query: dict[str, Any],
    results: int,
) -> bool:
    """Record the look; False (and a message) when it cannot be recorded, and nothing is shown."""
    what = {k: v for k, v in query.items() if k not in PLATE_KEYS}
    try:
        if not reason.strip():
            raise RefusedError("a reason (case number) is required for every look")
        if any(query.get(k) is not None for k in PLATE_KEYS):
            detail, digest = store.add_query_detail(ctx.user.name, action, reason, query, results)
            what["plate_query"] = {"access_log": detail, "sha256": digest}
        auth.record(ctx, action, "inquiry", what, why=reason, result_count=results)
    except (RefusedError, ValueError) as exc:
        print(f"alpr {action}: {exc}", file=sys.stderr)
        return False
    return True


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("reads", help="plate reads stored on this gateway")
    rsub = r.add_subparsers(dest="reads_command", required=True)
    ls = rsub.add_parser("list", help="list reads (access is logged)")
    add_config_arg(ls)
    add_reason(ls)
    ls.add_argument("--plate", help="plate text; ? and * wildcards allowed")
    ls.add_argument(
        "--since", type=parse_time, help="an officer sees the last 24 h at their own sites only"
    )
    ls.add_argument("--limit", type=int, default=1000)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_reads)
    rc = rsub.add_parser(
        "correct",
        help="record the true text of a misread, as the logged-in user (its crop joins the"
        " corrections set)",
    )
    add_config_arg(rc)
    rc.add_argument("read", help="read id")
    rc.add_argument("--text", required=True, help="the plate as it really is")
    rc.set_defaults(func=run_correct)

    h = sub.add_parser("hits", help="hot-list hits and their dispositions")
    hsub = h.add_subparsers(dest="hits_command", required=True)
    hl = hsub.add_parser("list", help="list hits (access is logged)")
    add_config_arg(hl)
    add_reason(hl)
    hl.add_argument("--open", action="store_true", help="only hits with no disposition yet")
    hl.add_argument(
        "--overdue",
        action="store_true",
        help="only hits open longer than [hits] open_alert_hours",
    )
    hl.add_argument("--json", action="store_true")
    hl.set_defaults(func=run_hits)
    hd = hsub.add_parser("disposition", help="record what came of a hit")
    add_config_arg(hd)
    hd.add_argument("hit", type=int)
    hd.add_argument("--status", required=True, choices=DISPOSITIONS)
    hd.add_argument("--note", required=True)
    hd.add_argument(
        "--text", help="misread: the plate as it really is (the crop joins the corrections set)"
    )
    choice = hd.add_mutually_exclusive_group()
    choice.add_argument(
        "--cancel-entry",
        dest="cancel_entry",
        action="store_const",
        const=True,
        help="with no-longer-wanted: cancel the hot-list entry too",
    )
    choice.add_argument(
        "--keep-entry",
        dest="cancel_entry",
        action="store_const",
        const=False,
        help="with no-longer-wanted: leave the hot-list entry active",
    )
    hd.set_defaults(func=run_disposition, cancel_entry=None)
    register_outcomes(hsub)


def read_json(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["alternates"] = json.loads(out["alternates"])
    out["box"] = json.loads(out["box"])
    return out


def plate_pattern(text: str) -> str:
    """A plate as reads store it: capitals, no spaces, dashes or dots ("abc-123" finds ABC123).
    The ? and * wildcards stay."""
    return "".join(c for c in text.upper() if c.isalnum() or c in "?*")


def run_reads(args: argparse.Namespace) -> int:
    now = time.time()
    ctx, scope = auth.reads_scope(args, now)
    store = Store(ctx.config.data_dir)
    since = args.since
    if scope.since is not None and (since is None or since < scope.since):
        if since is not None:
            print(
                f"alpr reads list: {ctx.user.name} may search the last {RECENT_HOURS} h only:"
                " showing reads since then",
                file=sys.stderr,
            )
        since = scope.since
    sql, params = "SELECT * FROM reads WHERE 1=1", []
    plate = plate_pattern(args.plate) if args.plate else None
    if plate:
        sql += " AND text GLOB ?"
        params.append(plate)
    if since is not None:
        sql += " AND captured >= ?"
        params.append(since)
    if scope.sites is not None:
        sql += f" AND site IN ({','.join('?' * len(scope.sites))})"
        params.extend(sorted(scope.sites))
    rows = (
        store.connect()
        .execute(sql + " ORDER BY captured DESC LIMIT ?", [*params, args.limit])
        .fetchall()
    )
    query: dict[str, Any] = {"plate": plate, "since": since, "limit": args.limit}
    if scope.sites is not None:
        query["sites"] = sorted(scope.sites)
    if not record_look(ctx, store, "reads list", args.reason, query, len(rows)):
        return 2
    if not rows:  # on stderr: --json output stays valid (no lines, an empty list)
        asked = f" plate {plate}" if plate else ""
        print(f"no reads match{asked}" + (" since then" if since else ""), file=sys.stderr)
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
    ctx = auth.authorize(args, "hits.view")
    store = Store(ctx.config.data_dir)
    # a hit carries its own plate, time, camera and site: it is listed after its read is purged
    sql = (
        "SELECT hits.*, coalesce(hits.plate, reads.text) AS text,"
        " coalesce(hits.camera, reads.camera) AS camera, coalesce(hits.site, reads.site) AS site,"
        " coalesce(hits.captured, reads.captured) AS captured, reads.confidence FROM hits"
        " LEFT JOIN reads ON reads.id = hits.read_id"
    )
    params: list[object] = []
    if args.open or args.overdue:
        sql += " WHERE hits.disposition IS NULL"
    if args.overdue:
        sql += " AND hits.created < ?"
        params.append(time.time() - ctx.config.open_hit_hours * 3600)
    rows = store.connect().execute(sql + " ORDER BY hits.id", params).fetchall()
    query = {"open": args.open, "overdue": args.overdue}
    if not record_look(ctx, store, "hits list", args.reason, query, len(rows)):
        return 2
    if not rows:
        print("no open hits" if args.open else "no hits", file=sys.stderr)
    for row in rows:
        out = dict(row)
        out["entry"] = json.loads(out["entry"])
        checked = hit_events.verification(store, row["id"])
        out["verification"] = None if checked is None else dict(checked)
        if args.json:
            print(json.dumps(out))
        else:
            e = out["entry"]
            when = (
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["captured"]))
                if row["captured"] is not None
                else "?"
            )
            print(
                f"hit {row['id']:>5}  {when}Z {row['text'] or '?':<9} {row['match_kind']:<9}"
                f" {e['category']:<15} case {e['case_number']:<10} {row['camera'] or '?':<8}"
                f" {row['disposition'] or 'OPEN'}"
                f" {'verified: ' + checked['status'] if checked else 'not verified'}"
                + ("  (state differs)" if row["state_differs"] else "")
            )
    return 0


def run_correct(args: argparse.Namespace) -> int:
    """A correction is a change to the training data: the same role as a disposition."""
    ctx = auth.authorize(args, "hits.disposition")
    store = Store(ctx.config.data_dir)
    user = ctx.user.name
    try:
        corrections.check_text(args.text)
        auth.record(ctx, "reads correct", "change", {"read": args.read}, why="misread")
        path = corrections.add(store, args.read, args.text, user)
    except corrections.CorrectionError as exc:
        print(f"alpr reads correct: {exc}", file=sys.stderr)
        return 2
    print(f"read {args.read}: corrected to {args.text.upper()} by {user} ({path})")
    return 0


def ask_cancel(entry: Any) -> bool | None:
    """On a terminal, ask whether to cancel the entry; None where nobody can answer."""
    if not sys.stdin.isatty():
        return None
    answer = input(
        f"Cancel hot-list entry {entry['id']} ({entry['plate']}, {entry['category']},"
        f" case {entry['case_number']}) so that it never matches again? [y/N] "
    )
    return answer.strip().lower() in ("y", "yes")


def run_disposition(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hits.disposition")
    store = Store(ctx.config.data_dir)
    user = ctx.user.name
    prog = "alpr hits disposition"
    if not args.note.strip():
        print(f"{prog}: --note must not be empty", file=sys.stderr)
        return 2
    db = store.connect()
    hit = db.execute("SELECT id, entry, read_id FROM hits WHERE id=?", (args.hit,)).fetchone()
    if hit is None:
        print(f"{prog}: no hit {args.hit}", file=sys.stderr)
        return 2
    if args.text and args.status != "misread":
        print(f"{prog}: --text is only for --status misread", file=sys.stderr)
        return 2
    if hit_events.verification(store, args.hit) is None:
        print(
            f"{prog}: hit {args.hit} has no verification record: record the check first"
            f" (alpr hits verify {args.hit} --system NCIC --result ...); nothing recorded",
            file=sys.stderr,
        )
        return 2
    if args.cancel_entry is not None and args.status != "no-longer-wanted":
        print(
            f"{prog}: --cancel-entry and --keep-entry go only with --status no-longer-wanted",
            file=sys.stderr,
        )
        return 2
    entry = None
    if args.status == "no-longer-wanted":
        entry = store.live_entry(json.loads(hit["entry"]))
        if entry is not None and args.cancel_entry is None:
            args.cancel_entry = ask_cancel(entry)
            if args.cancel_entry is None:
                print(
                    f"{prog}: hot-list entry {entry['id']} is still active: say --cancel-entry or"
                    " --keep-entry (nothing recorded)",
                    file=sys.stderr,
                )
                return 2
    if args.cancel_entry:
        auth.authorize(args, "hotlist.approve")  # cancelling the entry is a hot-list change
    auth.record(
        ctx,
        "hits disposition",
        "change",
        {"hit": args.hit, "status": args.status, "cancel_entry": bool(args.cancel_entry)},
        why=args.status,
        result_count=1,
    )
    if args.text:  # stored before the disposition is written, so a bad text changes nothing
        try:
            corrections.add(store, hit["read_id"], args.text, user)
        except corrections.CorrectionError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 2
    try:  # a new event in the hit's history: an earlier disposition stays there
        hit_events.dispose(store, args.hit, user, args.status, args.note)
    except RefusedError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    print(f"hit {args.hit}: {args.status} by {user}")
    if args.status == "misread" and not args.text:
        print("  (give --text with the true plate to add the crop to the corrections set)")
    if entry is None:
        if args.status == "no-longer-wanted":
            print(f"hit {args.hit}: its hot-list entry is no longer active; nothing to cancel")
        return 0
    if not args.cancel_entry:
        print(f"hot-list entry {entry['id']} stays active")
        return 0
    reason = f"hit {args.hit} no longer wanted: {args.note.strip()}"
    return cancel_entry(ctx, store, int(entry["id"]), reason, prog)
