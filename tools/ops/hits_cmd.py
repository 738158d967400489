"""`alpr hits verify|outcome|history|export`: what came of a hit, for the agency and its records.

Each is an event appended to the hit's history (`gateway.hit_events`), never an edit; each change
and each look is in the audit log under the logged-in name.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from gateway import hit_events
from gateway.hit_events import RESULTS, Outcome
from gateway.store import RefusedError, Store
from tools.common import add_config_arg
from tools.ops import auth

EXPORT_COLUMNS = (
    "hit",
    "created",
    "captured",
    "plate",
    "camera",
    "site",
    "match_kind",
    "source",
    "category",
    "case_number",
    "verified_system",
    "verified_result",
    "verified_at",
    "verified_by",
    "disposition",
    "disposition_at",
    "disposition_by",
    "disposition_note",
    "report_number",
    "arrest",
    "arrest_number",
    "vehicle_recovered",
    "person_located",
    "actionable",
)


def yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "y", "true", "1"):
        return True
    if value in ("no", "n", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def register_outcomes(hsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from tools.ops.records import add_reason, parse_time

    v = hsub.add_parser("verify", help="record the check of a hit in NCIC or the state system")
    add_config_arg(v)
    v.add_argument("hit", type=int)
    v.add_argument("--system", required=True, help="the system checked: NCIC, MULES, ACIC ...")
    v.add_argument("--result", required=True, choices=RESULTS)
    v.add_argument("--note", default="")
    v.add_argument("--at", type=parse_time, help="when the check was made (default: now)")
    v.set_defaults(func=run_verify)

    o = hsub.add_parser("outcome", help="record the outcome for the records system")
    add_config_arg(o)
    o.add_argument("hit", type=int)
    o.add_argument("--report-number", default="")
    o.add_argument("--arrest", type=yes_no, default=False, metavar="yes|no")
    o.add_argument("--arrest-number", default="")
    o.add_argument("--vehicle-recovered", type=yes_no, default=False, metavar="yes|no")
    o.add_argument("--person-located", type=yes_no, default=False, metavar="yes|no")
    o.add_argument(
        "--actionable", type=yes_no, required=True, metavar="yes|no", help="an actionable ALPR hit"
    )
    o.add_argument("--note", default="")
    o.set_defaults(func=run_outcome)

    h = hsub.add_parser("history", help="every verification, disposition and outcome of a hit")
    add_config_arg(h)
    add_reason(h)
    h.add_argument("hit", type=int)
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=run_history)

    x = hsub.add_parser("export", help="hits and their outcomes as CSV, for the records system")
    add_config_arg(x)
    add_reason(x)
    x.add_argument("--from", dest="start", type=parse_time, required=True)
    x.add_argument("--to", dest="end", type=parse_time, required=True)
    x.add_argument("--csv", type=Path, required=True, help="the file to write")
    x.set_defaults(func=run_export)


def run_verify(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hits.disposition")
    store = Store(ctx.config.data_dir)
    try:
        hit_events.verify(
            store, args.hit, ctx.user.name, args.system, args.result, args.note, args.at
        )
    except RefusedError as exc:
        print(f"alpr hits verify: {exc}", file=sys.stderr)
        return 2
    what = {"hit": args.hit, "system": args.system, "result": args.result}
    auth.record(ctx, "hits verify", "change", what, why=args.result, result_count=1)
    print(f"hit {args.hit}: checked in {args.system}: {args.result} ({ctx.user.name})")
    return 0


def run_outcome(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "hits.disposition")
    store = Store(ctx.config.data_dir)
    outcome = Outcome(
        args.report_number.strip(),
        args.arrest,
        args.arrest_number.strip(),
        args.vehicle_recovered,
        args.person_located,
        args.actionable,
    )
    try:
        hit_events.record_outcome(store, args.hit, ctx.user.name, outcome, args.note)
    except RefusedError as exc:
        print(f"alpr hits outcome: {exc}", file=sys.stderr)
        return 2
    auth.record(ctx, "hits outcome", "change", {"hit": args.hit}, why=outcome.summary())
    print(f"hit {args.hit}: {outcome.summary()}")
    return 0


def run_history(args: argparse.Namespace) -> int:
    from tools.ops.records import record_look

    ctx = auth.authorize(args, "hits.view")
    store = Store(ctx.config.data_dir)
    events = hit_events.history(store, args.hit)
    if not record_look(ctx, store, "hits history", args.reason, {"hit": args.hit}, len(events)):
        return 2
    for e in events:
        if args.json:
            print(json.dumps({**dict(e), "detail": json.loads(e["detail"])}))
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"]))
        system = f" in {e['system']}" if e["system"] else ""
        print(f"{when}Z {e['kind']:<13} {e['user']:<12} {e['status']}{system} {e['note']}")
    return 0


def export_row(store: Store, hit: Any) -> dict[str, Any]:
    entry = json.loads(hit["entry"])
    checked = hit_events.verification(store, hit["id"])
    outcome = hit_events.latest(store, hit["id"], "outcome")
    detail = json.loads(outcome["detail"]) if outcome else {}

    def iso(t: float | None) -> str:
        return "" if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    def flag(key: str) -> str:
        return "" if key not in detail else "yes" if detail[key] else "no"

    return {
        "hit": hit["id"],
        "created": iso(hit["created"]),
        "captured": iso(hit["captured"]),
        "plate": hit["plate"] or "",
        "camera": hit["camera"] or "",
        "site": hit["site"] or "",
        "match_kind": hit["match_kind"],
        "source": entry.get("source", ""),
        "category": entry.get("category", ""),
        "case_number": entry.get("case_number", ""),
        "verified_system": checked["system"] if checked else "",
        "verified_result": checked["status"] if checked else "",
        "verified_at": iso(checked["checked_at"]) if checked else "",
        "verified_by": checked["user"] if checked else "",
        "disposition": hit["disposition"] or "",
        "disposition_at": iso(hit["disposition_at"]),
        "disposition_by": hit["disposition_user"] or "",
        "disposition_note": hit["disposition_note"] or "",
        "report_number": detail.get("report_number", ""),
        "arrest": flag("arrest"),
        "arrest_number": detail.get("arrest_number", ""),
        "vehicle_recovered": flag("vehicle_recovered"),
        "person_located": flag("person_located"),
        "actionable": flag("actionable"),
    }


def run_export(args: argparse.Namespace) -> int:
    from tools.ops.records import record_look

    ctx = auth.authorize(args, "hits.export")
    store = Store(ctx.config.data_dir)
    if args.end <= args.start:
        print("alpr hits export: --to must be after --from", file=sys.stderr)
        return 2
    hits = (
        store.connect()
        .execute(
            "SELECT * FROM hits WHERE created >= ? AND created < ? ORDER BY id",
            (args.start, args.end),
        )
        .fetchall()
    )
    try:  # a new file only: an export never overwrites an earlier one
        f = args.csv.open("x", newline="")
    except FileExistsError:
        print(f"alpr hits export: {args.csv} exists; give a new file", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"alpr hits export: cannot write {args.csv}: {exc.strerror}", file=sys.stderr)
        return 2
    with f:
        query = {"from": args.start, "to": args.end, "file": str(args.csv)}
        if not record_look(ctx, store, "hits export", args.reason, query, len(hits)):
            f.close()
            args.csv.unlink()
            return 2
        writer = csv.DictWriter(f, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for hit in hits:
            writer.writerow(export_row(store, hit))
    print(f"{len(hits)} hits written to {args.csv}")
    return 0
