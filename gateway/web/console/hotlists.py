"""Hot lists: entries waiting for a manager's approval (approve or reject), imported sources and
their approval, the active, expired, rejected and cancelled entries, and cancelling an entry.
Every decision goes through gateway/review.py or the store, and into the audit log."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway import review
from gateway.store import RefusedError, Store
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, allow

router = APIRouter()


def listing(request: Request) -> dict[str, Any]:
    store: Store = request.app.state.store
    live = [dict(r) for r in store.hotlist_rows(expired=False)]
    now = time.time()
    return {
        "requested": [e for e in live if e.get("status") == "requested"],
        "active": [e for e in live if e.get("status", "approved") == "approved"],
        "rejected": [e for e in live if e.get("status") == "rejected"],
        "expired": [dict(r) for r in store.hotlist_rows(expired=True)],
        "cancelled": [dict(r) for r in store.hotlist_rows(cancelled=True)],
        "sources": [
            s.as_dict(now) for s in review.source_states(store, request.app.state.config.hotlists)
        ],
    }


def page(request: Request, ctx: Ctx, status: int = 200, message: str = "") -> HTMLResponse:
    lists = listing(request)
    count = sum(len(v) for k, v in lists.items() if k != "sources")
    ctx.record("console hotlists", "view", {"entries": count}, "", count)
    return render(
        request,
        "hotlists.html",
        status,
        ctx=ctx,
        message=message,
        may_approve=ctx.may("hotlist.approve"),
        **lists,
    )


@router.get("/hotlists", response_class=HTMLResponse)
async def hotlists_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("hotlist.view"))]
) -> Response:
    return await run_in_threadpool(page, request, ctx)


@router.post("/hotlists/{entry_id}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("hotlist.approve"))],
    entry_id: int,
    reason: str = Form(""),
) -> Response:
    store: Store = request.app.state.store

    def run() -> HTMLResponse:
        if not reason.strip():
            return page(request, ctx, 400, "cancelling an entry needs a reason")
        ctx.record("hotlist cancel", "change", {"entry": entry_id}, why=reason, count=1)
        try:
            store.cancel_hotlist_entry(entry_id, ctx.user.name, reason)
        except RefusedError as exc:
            return page(request, ctx, 400, str(exc))
        return page(request, ctx, 200, f"entry {entry_id} cancelled")

    return await run_in_threadpool(run)


@router.post("/hotlists/{entry_id}/review", response_class=HTMLResponse)
async def review_entry(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("hotlist.approve"))],
    entry_id: int,
    decision: str = Form(""),
    reason: str = Form(""),
) -> Response:
    """Approve (it matches from now on) or reject (with a reason) a requested entry."""
    store: Store = request.app.state.store

    def run() -> HTMLResponse:
        if decision not in ("approve", "reject"):
            return page(request, ctx, 400, "approve or reject")
        approve = decision == "approve"
        try:
            review.review_entry(store, entry_id, ctx.user.name, approve, reason)
        except RefusedError as exc:
            return page(request, ctx, 400, str(exc))
        action = "hotlist approve" if approve else "hotlist reject"
        ctx.record(action, "change", {"entry": entry_id}, why=reason, count=1)
        return page(request, ctx, 200, f"entry {entry_id} {decision}d")

    return await run_in_threadpool(run)


@router.post("/hotlists/sources/{source}/approve", response_class=HTMLResponse)
async def approve_source(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("hotlist.approve"))],
    source: str,
    note: str = Form(""),
) -> Response:
    store: Store = request.app.state.store

    def run() -> HTMLResponse:
        try:
            n = review.approve_source(store, source, ctx.user.name, note)
        except RefusedError as exc:
            return page(request, ctx, 400, str(exc))
        ctx.record("hotlist approve-source", "change", {"source": source}, why=note, count=n)
        return page(request, ctx, 200, f"source {source} approved ({n} waiting entries)")

    return await run_in_threadpool(run)
