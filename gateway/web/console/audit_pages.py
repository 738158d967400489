"""The audit pages (auditor and manager): the log with filters, drawing the annual sample,
recording a finding on each sampled inquiry, and the printable report."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.access import annual, audit
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, allow

router = APIRouter()
SHOWN = 500
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def day_start(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    return audit.iso(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC))


def log_page(
    request: Request, ctx: Ctx, filters: dict[str, str], status: int = 200, message: str = ""
) -> HTMLResponse:
    try:
        start, end = day_start(filters.get("start", "")), day_start(filters.get("end", ""))
    except ValueError:
        start = end = None
        message, status = "dates: YYYY-MM-DD", 400
    kinds = [filters["kind"]] if filters.get("kind") in audit.KINDS else []
    rows = list(audit.records(ctx.db, start, end, filters.get("user") or None, kinds))
    ctx.record("audit log", "audit", {k: v for k, v in filters.items() if v}, "", len(rows))
    shown = [{**r, "what": json.loads(r["what"])} for r in rows[-SHOWN:][::-1]]
    try:
        sample: dict[str, Any] | None = annual.get_sample(ctx.db)
    except annual.AuditError:
        sample = None
    items = annual.items(ctx.db, sample["id"]) if sample else []
    return render(
        request,
        "audit.html",
        status,
        ctx=ctx,
        rows=shown,
        total=len(rows),
        filters=filters,
        kinds=audit.KINDS,
        sample=sample,
        items=items,
        verdicts=annual.VERDICTS,
        may_conduct=ctx.may("audit.conduct"),
        may_report=ctx.may("audit.export"),
        message=message,
    )


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("audit.read"))],
    user: str = "",
    kind: str = "",
    start: str = "",
    end: str = "",
) -> Response:
    filters = {"user": user, "kind": kind, "start": start, "end": end}
    return await run_in_threadpool(log_page, request, ctx, filters)


@router.post("/audit/sample", response_class=HTMLResponse)
async def draw_sample(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("audit.conduct"))],
    start: str = Form(""),
    end: str = Form(""),
    n: int = Form(25),
) -> Response:
    def run() -> HTMLResponse:
        try:
            first, last = day_start(start), day_start(end)
            if first is None or last is None:
                raise annual.AuditError("give the period's first and last day")
            sid = annual.sample(ctx.db, first, last, n, None, ctx.user.name, ctx.source)
        except (annual.AuditError, ValueError) as exc:
            return log_page(request, ctx, {}, 400, f"sample refused: {exc}")
        return log_page(request, ctx, {}, 200, f"sample {sid} drawn")

    return await run_in_threadpool(run)


@router.post("/audit/items/{item_id}", response_class=HTMLResponse)
async def record_finding(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("audit.conduct"))],
    item_id: int,
    verdict: str = Form(""),
    note: str = Form(""),
) -> Response:
    def run() -> HTMLResponse:
        try:
            annual.finding(ctx.db, item_id, verdict, note, ctx.user.name, ctx.source)
        except annual.AuditError as exc:
            return log_page(request, ctx, {}, 400, f"finding refused: {exc}")
        return log_page(request, ctx, {}, 200, f"item {item_id}: {verdict}")

    return await run_in_threadpool(run)


@router.get("/audit/report", response_class=HTMLResponse)
async def report(
    request: Request, ctx: Annotated[Ctx, Depends(allow("audit.export"))], sample: int | None = None
) -> Response:
    def run() -> str:
        text = annual.render(ctx.db, request.app.state.config.agency, sample)
        ctx.record("audit report", "audit", {"sample": sample, "out": "console"})
        return text

    try:
        text = await run_in_threadpool(run)
    except annual.AuditError as exc:
        return await run_in_threadpool(log_page, request, ctx, {}, 400, str(exc))
    # the printable report carries its own stylesheet inline; scripts stay forbidden
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP})
