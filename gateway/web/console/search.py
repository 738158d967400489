"""Search of the reads this gateway holds: refused without a purpose and a case number or a reason
of at least 20 characters; the inquiry is in the audit log (the plate text apart, in the access log
that retention blanks) before any result is shown. Results with their crops, on the site map and a
timeline, each with a button to put the read under evidence hold."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud.storage import StorageError
from gateway.access.roles import AccessDenied, read_scope
from gateway.config import Config
from gateway.evidence_hold import hold_read
from gateway.store import RefusedError, Store
from gateway.web.console import svg
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, Refused, allow

router = APIRouter()
MIN_REASON = 20
LIMIT = 200
PURPOSES = ("criminal investigation", "missing person", "stolen vehicle", "wanted person")


def purposes(config: Config) -> list[str]:
    return list(config.policy.allowed_uses) or list(PURPOSES)


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


def page(request: Request, ctx: Ctx, status: int = 200, **values: Any) -> HTMLResponse:
    config: Config = request.app.state.config
    defaults: dict[str, Any] = {
        "error": "",
        "results": None,
        "form": {},
        "purposes": purposes(config),
        "min_reason": MIN_REASON,
        "may_hold": ctx.may("evidence.hold"),
        "held": "",
    }
    return render(request, "search.html", status, ctx=ctx, **{**defaults, **values})


@router.get("/search", response_class=HTMLResponse)
async def search_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("reads.recent"))]
) -> Response:
    await run_in_threadpool(ctx.record, "console search form", "view", {})
    return page(request, ctx)


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
    results = await run_in_threadpool(
        run_search, ctx, request.app.state.store, why, plate, start, end
    )
    counts = Counter(r["site"] for r in results)
    return page(
        request,
        ctx,
        results=results,
        form=form,
        site_map=svg.site_map(config, counts),
        timeline=svg.timeline([r["captured"] for r in results]),
    )


@router.post("/reads/{read_id}/hold", response_class=HTMLResponse)
async def hold(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("evidence.hold"))],
    read_id: str,
    case: str = Form(""),
    reason: str = Form(""),
) -> Response:
    """Copy the read under evidence/<case>/ with a legal hold (cloud/evidence.py)."""
    config: Config = request.app.state.config
    target = request.app.state.target
    if target is None:
        return page(request, ctx, 503, error="no storage target for evidence on this console")

    def place() -> list[str]:
        ctx.record("evidence hold", "change", {"read": read_id, "case": case}, why=reason, count=1)
        return hold_read(
            config, request.app.state.store, target, read_id, case, ctx.user.name, reason
        )

    if not case.strip() or not reason.strip():
        return page(request, ctx, 400, error="an evidence hold needs the case number and a reason")
    try:
        keys = await run_in_threadpool(place)
    except (StorageError, ValueError) as exc:
        return page(request, ctx, 400, error=f"evidence hold refused: {exc}")
    return page(request, ctx, held=f"read {read_id} held under case {case}: {len(keys)} objects")
