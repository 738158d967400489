"""`alpr search`: every read in the retention, from the Parquet index in storage.

Each search names a purpose from the configured list and a case number (or a reason of at least
20 characters), needs the historical-search role, and is written to the audit log with its filters
and result count. With `[search] approval = "supervisor"` a search is a request that a manager
approves before its requester runs it.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from cloud import index
from cloud.query import Filters, IndexSource, QueryError, normalise_plate, search, source_for
from cloud.storage import StorageError
from gateway.access import audit, search_requests
from gateway.access.roles import HISTORY
from gateway.config import Config
from gateway.config_schema import DEFAULT_PURPOSES
from tools.common import add_config_arg, load_config
from tools.ops.auth import Context, authorize
from tools.ops.cloud_cmd import target_for
from tools.ops.records import parse_time

MIN_REASON = 20
SKEW_S = 86400.0  # a camera clock a little ahead still lands in the search window


def purposes(config: Config) -> tuple[str, ...]:
    """`[search] purposes` when the config has them, else the default list."""
    found = getattr(getattr(config, "search", None), "purposes", None)
    return tuple(found) if found else DEFAULT_PURPOSES


def approval(config: Config) -> str | None:
    found = getattr(getattr(config, "search", None), "approval", None)
    return None if found in (None, "", "none") else str(found)


def justification(config: Config, args: argparse.Namespace) -> tuple[str, str]:
    """(purpose, why) or a SystemExit that names what is missing."""
    allowed = purposes(config)
    given = (args.purpose or "").strip()
    match = next((p for p in allowed if p.lower() == given.lower()), None)
    if match is None:
        said = f"--purpose {given!r} is not" if given else "--purpose is"
        raise SystemExit(
            f"alpr search: refused: {said} one of the configured purposes: {', '.join(allowed)}"
        )
    case = (args.case or "").strip()
    reason = (args.reason or "").strip()
    if case:
        return match, f"{match}; case {case}" + (f"; {reason}" if reason else "")
    if len(reason) >= MIN_REASON:
        return match, f"{match}; {reason}"
    raise SystemExit(
        "alpr search: refused: give --case NUMBER, or a --reason of at least"
        f" {MIN_REASON} characters (got {len(reason)})"
    )


def parse_near(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAT,LON in degrees, got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"LAT,LON out of range: {text!r}")
    return lat, lon


def filters_from(args: argparse.Namespace, config: Config, now: float) -> Filters:
    """The filters as given, the time range held to the retention."""
    try:
        plate = normalise_plate(args.plate) if args.plate else None
    except QueryError as exc:
        raise SystemExit(f"alpr search: {exc}") from None
    if (args.near is None) != (args.radius is None):
        raise SystemExit("alpr search: --near LAT,LON and --radius METRES go together")
    if args.radius is not None and args.radius <= 0:
        raise SystemExit(f"alpr search: --radius must be positive, got {args.radius}")
    oldest = now - config.retention_days * 86400
    start = max(args.since if args.since is not None else oldest, oldest)
    end = args.until if args.until is not None else now + SKEW_S
    if end <= start:
        raise SystemExit("alpr search: --until is not after --since (or before the retention)")
    return Filters(
        plate=plate,
        start=start,
        end=end,
        sites=tuple(args.site or ()),
        cameras=tuple(args.camera or ()),
        near=(*args.near, args.radius) if args.near is not None else None,
        state=args.state.strip().upper() if args.state else None,
    )


def index_source(config: Config) -> IndexSource:
    s = config.storage
    access, secret = s.credentials()
    return source_for(s.target, s.endpoint, access, secret, s.region, str(s.base), s.sse_c_key())


def add_why(p: argparse.ArgumentParser) -> None:
    p.add_argument("--purpose", help="one of the configured purposes (see `[search] purposes`)")
    p.add_argument("--case", help="case or incident number")
    p.add_argument("--reason", help=f"without a case number: why, at least {MIN_REASON} characters")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "search", help="search every read in the retention (purpose and case required; audited)"
    )
    add_config_arg(p)
    p.add_argument("--plate", help="plate, or a pattern: ? one character, * any run")
    p.add_argument("--since", type=parse_time, help="from (ISO date/time, UTC) inclusive")
    p.add_argument("--until", type=parse_time, help="to (ISO date/time, UTC) exclusive")
    p.add_argument("--site", action="append", help="site id (repeatable)")
    p.add_argument("--camera", action="append", help="camera id (repeatable)")
    p.add_argument("--near", type=parse_near, metavar="LAT,LON", help="centre of a canvass")
    p.add_argument("--radius", type=float, metavar="METRES", help="radius around --near")
    p.add_argument("--state", help="plate state, e.g. IL")
    add_why(p)
    p.add_argument("--request", action="store_true", help="ask a manager to approve it first")
    p.add_argument("--json", action="store_true", help="one JSON object per read")
    p.add_argument("--limit", type=int, default=1000, help="reads printed at most")
    p.add_argument("--threads", type=int, default=1, help="DuckDB threads")
    p.set_defaults(func=run_search, search_command=None)
    ssub = p.add_subparsers(
        dest="search_command", metavar="{approve,refuse,pending,run,open,compact}"
    )
    for name, text in (("approve", "approve a search request"), ("refuse", "refuse one")):
        a = ssub.add_parser(name, help=f"{text} (manager)")
        add_config_arg(a)
        a.add_argument("id", type=int)
        a.add_argument("--note", default="")
        a.set_defaults(func=run_decide, approve=name == "approve")
    pe = ssub.add_parser("pending", help="search requests waiting for a manager")
    add_config_arg(pe)
    pe.set_defaults(func=run_pending)
    r = ssub.add_parser("run", help="run an approved search request (its requester)")
    add_config_arg(r)
    r.add_argument("id", type=int)
    r.add_argument("--json", action="store_true")
    r.add_argument("--limit", type=int, default=1000)
    r.add_argument("--threads", type=int, default=1)
    r.set_defaults(func=run_request)
    o = ssub.add_parser("open", help="fetch a read's image and plate crop to a folder (audited)")
    add_config_arg(o)
    o.add_argument("read")
    o.add_argument("--out", type=Path, default=Path("."), help="folder (default: here)")
    o.add_argument("--day", type=parse_time, help="the read's day, to search one day only")
    add_why(o)
    o.set_defaults(func=run_open)
    c = ssub.add_parser("compact", help="merge each index partition's parts into one")
    add_config_arg(c)
    c.add_argument("--day", help="YYYY-MM-DD: only this day")
    c.add_argument("--site", help="only this site")
    c.set_defaults(func=run_compact)


def record(ctx: Context, action: str, what: dict[str, Any], why: str, count: int) -> None:
    audit.append(
        ctx.db,
        ctx.user.name,
        action,
        kind="inquiry",
        what=what,
        why=why,
        source=ctx.source,
        result_count=count,
    )


def refuse(ctx: Context, exc: SystemExit, args: argparse.Namespace) -> SystemExit:
    """A search refused for its justification is in the audit log too."""
    audit.append(
        ctx.db,
        ctx.user.name,
        "search refused",
        kind="denied",
        what={"purpose": args.purpose, "case": args.case, "reason": args.reason},
        why=str(exc.code),
        source=ctx.source,
    )
    return exc


def show(rows: list[dict[str, Any]], as_json: bool, limit: int) -> None:
    for row in rows[:limit]:
        if as_json:
            out = dict(row)
            out["captured"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["captured"]))
            print(json.dumps(out, default=str))
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(row["captured"]))
        place = f"{row['site']}/{row['camera']} ({row['lat']:.5f}, {row['lon']:.5f})"
        print(
            f"{when}  {place}  {row['plate']:<9} {row['state'] or '--':<3}"
            f" {row['confidence']:.2f}  {row['image_key']}  {row['crop_key']}"
        )
    if len(rows) > limit:
        print(f"... {len(rows) - limit} more (raise --limit)", file=sys.stderr)


def execute(
    ctx: Context, f: Filters, purpose: str, why: str, args: argparse.Namespace, extra: Any = None
) -> int:
    try:
        result = search(index_source(ctx.config), f, threads=args.threads)
    except (QueryError, StorageError, OSError) as exc:
        raise SystemExit(f"alpr search: the index could not be read: {exc}") from None
    what = {"filters": f.describe(), "purpose": purpose, **(extra or {})}
    record(ctx, "search", what, why, len(result.rows))
    show(result.rows, args.json, args.limit)
    st = result.stats
    print(
        f"{len(result.rows)} reads; {st.files_listed} index files in {st.prefixes_listed}"
        f" partitions listed, {st.files_scanned} scanned, {st.files_read} read;"
        f" {st.seconds:.2f} s",
        file=sys.stderr,
    )
    return 0


def run_search(args: argparse.Namespace) -> int:
    config = load_config(args)
    now = time.time()
    f = filters_from(args, config, now)
    ctx = authorize(args, HISTORY)
    try:
        purpose, why = justification(config, args)
    except SystemExit as exc:
        raise refuse(ctx, exc, args) from None
    if args.request or approval(config) == "supervisor":
        rid = search_requests.file(
            ctx.db, ctx.user.name, dataclasses.asdict(f), purpose, why, ctx.source
        )
        print(f"search request {rid} waits for a manager: `alpr search approve {rid}`")
        return 0
    return execute(ctx, f, purpose, why, args)


def run_decide(args: argparse.Namespace) -> int:
    ctx = authorize(args, "search.approve")
    try:
        req = search_requests.decide(
            ctx.db, args.id, ctx.user.name, args.approve, args.note, ctx.source
        )
    except search_requests.RequestError as exc:
        raise SystemExit(f"alpr search: {exc}") from None
    print(f"search request {req.id}: {req.status} by {ctx.user.name}")
    return 0


def run_pending(args: argparse.Namespace) -> int:
    ctx = authorize(args, "search.approve")
    for req in search_requests.pending(ctx.db):
        print(f"{req.id:>5}  {req.created}  {req.requester:<12} {json.dumps(req.query)}")
    return 0


def run_request(args: argparse.Namespace) -> int:
    ctx = authorize(args, HISTORY)
    try:
        req = search_requests.take(ctx.db, args.id, ctx.user.name)
    except search_requests.RequestError as exc:
        raise SystemExit(f"alpr search: {exc}") from None
    f = Filters.from_dict(req.query["filters"])
    extra = {"request": req.id, "approved_by": req.decided_by}
    return execute(ctx, f, req.query["purpose"], req.query["why"], args, extra)


def run_open(args: argparse.Namespace) -> int:
    config = load_config(args)
    ctx = authorize(args, HISTORY)
    try:
        purpose, why = justification(config, args)
    except SystemExit as exc:
        raise refuse(ctx, exc, args) from None
    now = time.time()
    if args.day is not None:
        start = args.day - args.day % 86400
        f = Filters(read_id=args.read, start=start, end=start + 86400)
    else:
        f = Filters(read_id=args.read, start=now - config.retention_days * 86400, end=now + SKEW_S)
    try:
        rows = search(index_source(config), f).rows
    except (QueryError, StorageError, OSError) as exc:
        raise SystemExit(f"alpr search open: the index could not be read: {exc}") from None
    if not rows:
        record(ctx, "search open", {"read": args.read, "purpose": purpose}, why, 0)
        raise SystemExit(f"alpr search open: no read {args.read} in the index")
    row = rows[0]
    target = target_for(config)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        image = target.get(row["image_key"])
        meta = target.get(row["crop_key"])
    except StorageError as exc:
        record(ctx, "search open", {"read": args.read, "purpose": purpose}, why, 0)
        raise SystemExit(f"alpr search open: {exc}") from None
    doc = json.loads(meta)
    crop = base64.b64decode(doc.pop("plate_jpeg", "") or "")
    for name, data in (
        (f"{args.read}.jpg", image),
        (f"{args.read}-plate.jpg", crop),
        (f"{args.read}.json", json.dumps(doc, indent=2, sort_keys=True).encode()),
    ):
        if data:
            (args.out / name).write_bytes(data)
            written.append(str(args.out / name))
    record(
        ctx,
        "search open",
        {"read": args.read, "purpose": purpose, "keys": [row["image_key"], row["crop_key"]]},
        why,
        1,
    )
    for path in written:
        print(path)
    return 0


def run_compact(args: argparse.Namespace) -> int:
    config = load_config(args)
    try:
        done = index.compact(target_for(config), args.day, args.site)
    except StorageError as exc:
        raise SystemExit(f"alpr search compact: {exc}") from None
    for c in done:
        print(f"dt={c.day} site={c.site}: {len(c.merged)} parts -> {c.written} ({c.rows} reads)")
    print(f"{len(done)} partitions compacted")
    return 0
