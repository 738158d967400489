"""Search of the reads this gateway holds: refused without a purpose and a case number or a reason
of at least 20 characters; the inquiry is in the audit log (the plate text apart, in the access log
that retention blanks) before any result is shown. Results with their crops, on the site map and a
timeline, each with a button to put the read under evidence hold."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud.query import Filters, QueryError, normalise_plate, source_for
from cloud.query import search as query_index
from cloud.storage import StorageError
from gateway.access import search_requests
from gateway.access.roles import HISTORY, AccessDenied, read_scope
from gateway.config import Config
from gateway.evidence_hold import hold_read
from gateway.store import RefusedError, Store
from gateway.web.console import svg
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, Refused, allow

router = APIRouter()
MIN_REASON = 20
LIMIT = 200
SKEW_S = 86400.0  # a camera clock a little ahead still lands in the search window


def purposes(config: Config) -> list[str]:
    """`[search] purposes`, as `alpr search` takes them."""
    return list(config.search.purposes)


def why_of(config: Config, purpose: str, case: str, reason: str) -> tuple[str, str]:
    """(the audit record's why, '') or ('', what is missing)."""
    if purpose not in purposes(config):
        return "", "choose the purpose of the search"
    case, reason = case.strip(), reason.strip()
    if not case and len(reason) < MIN_REASON:
        return "", (
            f"give the case number, or a reason of at least {MIN_REASON} characters"
            f" ({len(reason)} given)"
        )
    return f"{purpose}; " + (f"case {case}" if case else reason), ""


def parse_day(text: str, end: bool = False) -> float | None:
    if not text.strip():
        return None
    day = time.strptime(text.strip(), "%Y-%m-%d")
    return time.mktime(day) - time.timezone + (86400 if end else 0)


def index_filters(config: Config, plate: str, since: float | None, until: float | None) -> Filters:
    """The filters of a history search, the time range held to the retention (as `alpr search`)."""
    now = time.time()
    oldest = now - config.retention_days * 86400
    try:
        return Filters(
            plate=normalise_plate(plate) if plate.strip() else None,
            start=max(since if since is not None else oldest, oldest),
            end=until if until is not None else now + SKEW_S,
        )
    except QueryError as exc:
        raise Refused(str(exc), 400) from None


def index_search(
    ctx: Ctx, config: Config, f: Filters, purpose: str, why: str, extra: Any = None
) -> list[dict[str, Any]]:
    """The history role's search: every read in the retention, from the Parquet index in storage
    (cloud/query.py, as `alpr search`), recorded as the command line records it."""
    try:
        s = config.storage
        access, secret = s.credentials()
        source = source_for(
            s.target, s.endpoint, access, secret, s.region, str(s.base), s.sse_c_key()
        )
        result = query_index(source, f)
    except QueryError as exc:
        raise Refused(str(exc), 400) from None
    except (StorageError, OSError) as exc:
        raise Refused(f"the index could not be read: {exc}", 503) from None
    what = {"filters": f.describe(), "purpose": purpose, "via": "console", **(extra or {})}
    ctx.record("search", "inquiry", what, why=why, count=len(result.rows))
    out = []
    for r in result.rows[-LIMIT:][::-1]:
        out.append(
            {
                "id": r["read_id"],
                "text": r["plate"],
                "confidence": r["confidence"],
                "captured": r["captured"],
                "site": r["site"],
                "camera": r["camera"],
                "day": time.strftime("%Y-%m-%d", time.gmtime(r["captured"])),
                "when": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["captured"])) + "Z",
            }
        )
    return out


def run_search(
    ctx: Ctx, store: Store, why: str, plate: str, since: float | None, until: float | None
) -> list[dict[str, Any]]:
    try:
        scope = read_scope(ctx.user, time.time(), ctx.settings.history_role)
    except AccessDenied as exc:
        raise Refused(str(exc)) from None
    if scope.since is not None and (since is None or since < scope.since):
        since = scope.since
    sql, args = "SELECT * FROM reads WHERE 1=1", list[Any]()
    if plate.strip():
        sql += " AND text GLOB ?"
        args.append(plate.strip().upper())
    if since is not None:
        sql += " AND captured >= ?"
        args.append(since)
    if until is not None:
        sql += " AND captured < ?"
        args.append(until)
    if scope.sites is not None:
        sql += f" AND site IN ({','.join('?' * len(scope.sites))})"
        args.extend(sorted(scope.sites))
    rows = store.connect().execute(sql + " ORDER BY captured DESC LIMIT ?", [*args, LIMIT])
    found = [dict(r) for r in rows]
    query: dict[str, Any] = {"plate": plate.strip() or None, "since": since, "until": until}
    if scope.sites is not None:
        query["sites"] = sorted(scope.sites)
    what = {k: v for k, v in query.items() if k != "plate"}
    if query["plate"] is not None:
        try:
            detail, digest = store.add_query_detail(
                ctx.user.name, "console search", why, query, len(found)
            )
        except RefusedError as exc:
            raise Refused(str(exc), 400) from None
        what["plate_query"] = {"access_log": detail, "sha256": digest}
    ctx.record("console search", "inquiry", what, why=why, count=len(found))
    for r in found:
        r["when"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["captured"])) + "Z"
    return found


def supervised(config: Config, ctx: Ctx) -> bool:
    """`[search] approval = "supervisor"` and a history search: a manager approves it first."""
    return config.search.approval == "supervisor" and ctx.may(HISTORY)


def page(request: Request, ctx: Ctx, status: int = 200, **values: Any) -> HTMLResponse:
    config: Config = request.app.state.config
    needs_approval = supervised(config, ctx)
    defaults: dict[str, Any] = {
        "error": "",
        "results": None,
        "form": {},
        "purposes": purposes(config),
        "min_reason": MIN_REASON,
        "may_hold": ctx.may("evidence.hold"),
        "held": "",
        "message": "",
        "needs_approval": needs_approval,
        "requests": search_requests.of_requester(ctx.db, ctx.user.name) if needs_approval else [],
    }
    return render(request, "search.html", status, ctx=ctx, **{**defaults, **values})


@router.get("/search", response_class=HTMLResponse)
async def search_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("reads.recent"))]
) -> Response:
    await run_in_threadpool(ctx.record, "console search form", "view", {})
    return await run_in_threadpool(page, request, ctx)


@router.post("/search", response_class=HTMLResponse)
async def search(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("reads.recent"))],
    purpose: str = Form(""),
    case: str = Form(""),
    reason: str = Form(""),
    plate: str = Form(""),
    since: str = Form(""),
    until: str = Form(""),
) -> Response:
    config: Config = request.app.state.config
    form = {"purpose": purpose, "case": case, "reason": reason, "plate": plate,
            "since": since, "until": until}  # fmt: skip
    why, missing = why_of(config, purpose, case, reason)
    if missing:
        return page(request, ctx, 400, error=missing, form=form)
    try:
        start, end = parse_day(since), parse_day(until, end=True)
    except ValueError:
        return page(request, ctx, 400, error="dates: YYYY-MM-DD", form=form)
    if ctx.may(HISTORY):
        f = index_filters(config, plate, start, end)
        if supervised(config, ctx):
            rid = await run_in_threadpool(
                search_requests.file, ctx.db, ctx.user.name, asdict(f), purpose, why, ctx.source
            )
            done = f"search request {rid} waits for a manager's approval; run it here once approved"
            return await run_in_threadpool(page, request, ctx, message=done)
        results = await run_in_threadpool(index_search, ctx, config, f, purpose, why)
    else:
        results = await run_in_threadpool(
            run_search, ctx, request.app.state.store, why, plate, start, end
        )
    return await run_in_threadpool(results_page, request, ctx, results, form)


def results_page(
    request: Request, ctx: Ctx, results: list[dict[str, Any]], form: dict[str, str]
) -> HTMLResponse:
    config: Config = request.app.state.config
    counts = Counter(r["site"] for r in results)
    return page(
        request,
        ctx,
        results=results,
        form=form,
        site_map=svg.site_map(config, counts),
        timeline=svg.timeline([r["captured"] for r in results]),
    )


@router.post("/search/requests/{request_id}/run", response_class=HTMLResponse)
async def run_request(
    request: Request, ctx: Annotated[Ctx, Depends(allow(HISTORY))], request_id: int
) -> Response:
    """An approved request, run once by its requester with the filters as approved (as
    `alpr search run`)."""
    config: Config = request.app.state.config

    def run() -> HTMLResponse:
        try:
            req = search_requests.take(ctx.db, request_id, ctx.user.name)
        except search_requests.RequestError as exc:
            ctx.record("search run refused", "denied", {"request": request_id}, why=str(exc))
            return page(request, ctx, 400, error=str(exc))
        f = Filters.from_dict(req.query["filters"])
        extra = {"request": req.id, "approved_by": req.decided_by}
        results = index_search(ctx, config, f, req.query["purpose"], req.query["why"], extra)
        form = {"purpose": req.query["purpose"], "plate": f.plate or ""}
        return results_page(request, ctx, results, form)

    return await run_in_threadpool(run)


@router.post("/reads/{read_id}/hold", response_class=HTMLResponse)
async def hold(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("evidence.hold"))],
    read_id: str,
    case: str = Form(""),
    reason: str = Form(""),
    day: str = Form(""),
    site: str = Form(""),
    camera: str = Form(""),
) -> Response:
    """Copy the read under evidence/<case>/ with a legal hold (cloud/evidence.py); a read no longer
    on the gateway is found in storage by its capture day, site and camera."""
    config: Config = request.app.state.config
    target = request.app.state.target
    if target is None:
        return page(request, ctx, 503, error="no storage target for evidence on this console")

    def place() -> list[str]:
        ctx.record("evidence hold", "change", {"read": read_id, "case": case}, why=reason, count=1)
        return hold_read(
            config,
            request.app.state.store,
            target,
            read_id,
            case,
            ctx.user.name,
            reason,
            day=day or None,
            site=site or None,
            camera=camera or None,
        )

    if not case.strip() or not reason.strip():
        return page(request, ctx, 400, error="an evidence hold needs the case number and a reason")
    try:
        keys = await run_in_threadpool(place)
    except (StorageError, ValueError) as exc:
        return page(request, ctx, 400, error=f"evidence hold refused: {exc}")
    return page(request, ctx, held=f"read {read_id} held under case {case}: {len(keys)} objects")
