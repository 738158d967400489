"""Searches waiting for a manager (`[search] approval = "supervisor"`): the pending requests with
their filters and justification, approved or refused through gateway/access/search_requests.py
(nobody decides their own), as `alpr search pending|approve|refuse`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud.query import Filters
from gateway.access import search_requests
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, allow

router = APIRouter()


def page(
    request: Request, ctx: Ctx, status: int = 200, message: str = "", error: str = ""
) -> HTMLResponse:
    waiting = search_requests.pending(ctx.db)
    ctx.record("search pending", "view", {}, "", len(waiting))
    rows = [
        {
            "req": r,
            "filters": Filters.from_dict(r.query["filters"]).describe(),
            "own": r.requester == ctx.user.name,
        }
        for r in waiting
    ]
    return render(
        request, "search_requests.html", status, ctx=ctx, rows=rows, message=message, error=error
    )


@router.get("/search/requests", response_class=HTMLResponse)
async def pending_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("search.approve"))]
) -> Response:
    return await run_in_threadpool(page, request, ctx)


@router.post("/search/requests/{request_id}/decide", response_class=HTMLResponse)
async def decide(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("search.approve"))],
    request_id: int,
    decision: str = Form(""),
    note: str = Form(""),
) -> Response:
    def run() -> HTMLResponse:
        if decision not in ("approve", "refuse"):
            return page(request, ctx, 400, error="approve or refuse")
        try:
            req = search_requests.decide(
                ctx.db, request_id, ctx.user.name, decision == "approve", note, ctx.source
            )
        except search_requests.RequestError as exc:
            return page(request, ctx, 400, error=str(exc))
        return page(request, ctx, message=f"search request {req.id}: {req.status}")

    return await run_in_threadpool(run)
