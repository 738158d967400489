"""The transparency report in the console: the same static site `alpr report transparency` writes
(gateway/reports/transparency.py, with the site plan's map), shown as a page and offered as a zip
to put on the agency's web server. Each view and download is in the audit log."""

from __future__ import annotations

import io
import shutil
import threading
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.config import Config
from gateway.reports import transparency
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, Refused, allow
from tools.field.sites import draw_map

router = APIRouter()
FILES = {"map.svg": "image/svg+xml", "figures.json": "application/json"}
# the report is a page of its own: its stylesheet is inline, its map is the file beside it
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none';"
    " base-uri 'none'; form-action 'none'"
)
WRITING = threading.Lock()  # one writer at a time (the map is drawn with pyplot)


def folder(config: Config) -> Path:
    return Path(config.data_dir) / "reports" / "transparency"


def write(request: Request) -> tuple[Path, transparency.Transparency]:
    """A fresh site in a sibling folder, renamed over the last one."""
    config: Config = request.app.state.config
    out = folder(config)
    staging = out.with_name(out.name + ".new")
    with WRITING:
        shutil.rmtree(staging, ignore_errors=True)
        figs = transparency.write_site(config, request.app.state.store, request.app.state.access,
                                       staging, draw_map)  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    return out, figs


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("reports.publish"))]
) -> Response:
    await run_in_threadpool(ctx.record, "console reports", "view", {})
    return render(request, "reports.html", ctx=ctx)


@router.get("/reports/transparency")
async def no_slash() -> Response:
    return RedirectResponse("/reports/transparency/", 303)


@router.get("/reports/transparency/", response_class=HTMLResponse)
async def report(
    request: Request, ctx: Annotated[Ctx, Depends(allow("reports.publish"))]
) -> Response:
    """The report as the public will see it (its map and figures.json load beside it)."""

    def run() -> str:
        out, figs = write(request)
        what = {"out": "console", "reads": figs.totals.reads, "hits": figs.totals.hits}
        ctx.record("report transparency", "view", what)
        return (out / "index.html").read_text()

    text = await run_in_threadpool(run)
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/reports/transparency/{name}")
async def report_file(
    request: Request, ctx: Annotated[Ctx, Depends(allow("reports.publish"))], name: str
) -> Response:
    """The map or the figures of the report last shown."""
    path = folder(request.app.state.config) / name
    if name not in FILES or not path.is_file():
        raise Refused(f"{name}: no such file in the transparency report", 404)
    await run_in_threadpool(ctx.record, "report transparency file", "view", {"file": name})
    return FileResponse(path, media_type=FILES[name])


@router.get("/reports/transparency.zip")
async def download(
    request: Request, ctx: Annotated[Ctx, Depends(allow("reports.publish"))]
) -> Response:
    """The whole site, freshly written, as one zip (index.html, map.svg, figures.json)."""

    def run() -> bytes:
        out, figs = write(request)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(out.iterdir()):
                z.write(path, f"transparency/{path.name}")
        what = {"out": "download", "reads": figs.totals.reads, "hits": figs.totals.hits}
        ctx.record("report transparency", "view", what)
        return buf.getvalue()

    data = await run_in_threadpool(run)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="transparency.zip"'},
    )
