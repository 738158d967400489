"""Hot lists: the active entries, the cancelled ones, and cancelling an entry (a manager's
decision, in the store's history and the audit log)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.store import RefusedError, Store
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, allow

router = APIRouter()


def listing(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {
        "active": [dict(r) for r in store.hotlist_rows(expired=False)],
        "expired": [dict(r) for r in store.hotlist_rows(expired=True)],
        "cancelled": [dict(r) for r in store.hotlist_rows(cancelled=True)],
    }


def page(request: Request, ctx: Ctx, status: int = 200, message: str = "") -> HTMLResponse:
    store: Store = request.app.state.store
    lists = listing(store)
    count = sum(len(v) for v in lists.values())
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
