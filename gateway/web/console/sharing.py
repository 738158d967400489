"""Sharing with other agencies: the requests and their state, a manager's approval or denial (the
MOU rule of gateway/sharing/requests.py: without an MOU only the chief approves), the release of an
approved request as a download, and the secondary dissemination log, as `alpr share
list|approve|deny|fulfil|log` show and do them."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.access import audit
from gateway.config import Config
from gateway.sharing import release, requests
from gateway.sharing.export import utc
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, allow

router = APIRouter()


def viewed(ctx: Ctx, action: str, count: int) -> None:
    """The same `view` record as `alpr share list|log`, with the console as its source."""
    audit.append(ctx.db, ctx.user.name, action, kind="view", source=ctx.source, result_count=count)


def query_text(query: str) -> str:
    """What a request asks for, in a line: plates, the time range, the sites."""
    q = requests.Query.from_json(query)
    parts = [", ".join(q.plates) or "any plate"]
    if q.since is not None or q.until is not None:
        parts.append(f"{utc(q.since)} to {utc(q.until)}")
    parts.append(", ".join(q.sites) or "all sites")
    return "; ".join(parts)


def page(
    request: Request, ctx: Ctx, status: int = 200, message: str = "", error: str = ""
) -> HTMLResponse:
    config: Config = request.app.state.config
    rows = requests.listing(ctx.db)
    viewed(ctx, "share list", len(rows))
    for r in rows:
        agency = requests.find_agency(config.sharing.agencies, r["agency"])
        r["asks"] = query_text(r["query"])
        r["mou"] = requests.mou_note(agency)
    return render(
        request,
        "sharing.html",
        status,
        ctx=ctx,
        pending=[r for r in rows if r["status"] == "requested"],
        decided=[r for r in rows if r["status"] != "requested"][::-1],
        may_approve=ctx.may("share.approve"),
        may_release=ctx.may("share.fulfil"),
        chief=requests.CHIEF_ROLE,
        message=message,
        error=error,
    )


@router.get("/sharing", response_class=HTMLResponse)
async def sharing_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("share.view"))]
) -> Response:
    return await run_in_threadpool(page, request, ctx)


@router.post("/sharing/{share_id}/approve", response_class=HTMLResponse)
async def approve(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("share.approve"))],
    share_id: int,
    verified_by: str = Form(""),
    note: str = Form(""),
) -> Response:
    """Approve as `alpr share approve` does; a refusal names the rule (and is audited there)."""
    config: Config = request.app.state.config

    def run() -> HTMLResponse:
        try:
            row = requests.approve(
                ctx.db, share_id, ctx.user, verified_by, note, config.sharing.agencies, ctx.source
            )
        except requests.ShareError as exc:
            return page(request, ctx, 400, error=f"approval refused: {exc}")
        done = f"share {share_id} approved by {ctx.user.name}: {requests.mou_text(row)}"
        return page(request, ctx, message=done)

    return await run_in_threadpool(run)


@router.post("/sharing/{share_id}/deny", response_class=HTMLResponse)
async def deny(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("share.approve"))],
    share_id: int,
    reason: str = Form(""),
) -> Response:
    def run() -> HTMLResponse:
        try:
            requests.deny(ctx.db, share_id, ctx.user.name, reason, ctx.source)
        except requests.ShareError as exc:
            return page(request, ctx, 400, error=f"denial refused: {exc}")
        return page(request, ctx, message=f"share {share_id} denied")

    return await run_in_threadpool(run)


@router.post("/sharing/{share_id}/release", response_model=None)
async def release_share(
    request: Request, ctx: Annotated[Ctx, Depends(allow("share.fulfil"))], share_id: int
) -> Response:
    """Release an approved request as `alpr share fulfil` does (package, manifest, cover sheet, the
    release and its dissemination log line), answered as a zip: no copy stays on the gateway."""
    config: Config = request.app.state.config

    def run() -> Response:
        with tempfile.TemporaryDirectory(prefix="alpr-share-") as tmp:
            out = Path(tmp) / f"share-{share_id}"
            try:
                pkg = release.fulfil(
                    ctx.db, request.app.state.store, share_id, ctx.user.name, out,
                    config.sharing.agencies, config.agency, ctx.source,
                    f"console download share-{share_id}.zip",
                )  # fmt: skip
            except requests.ShareError as exc:
                return page(request, ctx, 400, error=f"release refused: {exc}")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(out.rglob("*")):
                    if f.is_file():
                        z.write(f, str(f.relative_to(out.parent)))
        return Response(
            buf.getvalue(),
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="share-{share_id}.zip"',
                "X-Manifest-SHA256": pkg.manifest_sha256,
            },
        )

    return await run_in_threadpool(run)


def log_rows(ctx: Ctx) -> list[dict[str, Any]]:
    rows = requests.dissemination_log(ctx.db)
    viewed(ctx, "share log", len(rows))
    for r in rows:
        r["asks"] = query_text(r["query"])
    return rows[::-1]


@router.get("/sharing/log", response_class=HTMLResponse)
async def log_page(request: Request, ctx: Annotated[Ctx, Depends(allow("share.view"))]) -> Response:
    rows = await run_in_threadpool(log_rows, ctx)
    return render(request, "share_log.html", ctx=ctx, rows=rows)


@router.get("/sharing/log.csv")
async def log_csv(request: Request, ctx: Annotated[Ctx, Depends(allow("share.view"))]) -> Response:
    """The log as `alpr share log --csv` writes it."""

    def run() -> str:
        rows = requests.dissemination_log(ctx.db)
        viewed(ctx, "share log", len(rows))
        out = io.StringIO()
        requests.write_log_csv(out, rows)
        return out.getvalue()

    text = await run_in_threadpool(run)
    name = "dissemination-log.csv"
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
