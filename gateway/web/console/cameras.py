"""Cameras: last contact, battery and solar over 7 days, queue depth and read rate, with the
silent, low-battery and misaligned (read rate collapsed) cameras flagged first."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.camera_health import DAY_S, camera_health, trend
from gateway.config import Config
from gateway.store import Store
from gateway.web.console import svg
from gateway.web.console.alerts import render
from gateway.web.console.session import Ctx, allow

router = APIRouter()
TREND_DAYS = 7
MISALIGNED = "read rate collapsed"


def health(config: Config, store: Store) -> list[dict[str, Any]]:
    now = time.time()
    out = []
    for h in camera_health(config, store, now):
        points = trend(store, h["camera"], now, TREND_DAYS)
        start = now - TREND_DAYS * DAY_S
        h["battery_svg"] = svg.sparkline(
            [(p["at"], p["battery_v"]) for p in points if "battery_v" in p], start, now
        )
        h["solar_svg"] = svg.sparkline(
            [(p["at"], p["solar_v"]) for p in points if "solar_v" in p],
            start,
            now,
            colour="#c78a00",
        )
        h["misaligned"] = MISALIGNED in h["flags"]
        h["age_text"] = age_text(h["last_contact_age_s"])
        out.append(h)
    out.sort(key=lambda h: (not h["flags"], h["camera"]))
    return out


def age_text(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@router.get("/cameras", response_class=HTMLResponse)
async def cameras_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("cameras.view"))]
) -> Response:
    rows = await run_in_threadpool(health, request.app.state.config, request.app.state.store)
    await run_in_threadpool(ctx.record, "console cameras", "view", {}, "", len(rows))
    return render(request, "cameras.html", ctx=ctx, cameras=rows)


@router.get("/api/cameras")
async def api_cameras(
    request: Request, ctx: Annotated[Ctx, Depends(allow("cameras.view"))]
) -> Response:
    rows = await run_in_threadpool(camera_health, request.app.state.config, request.app.state.store)
    await run_in_threadpool(ctx.record, "console api cameras", "view", {}, "", len(rows))
    return JSONResponse({"cameras": rows})
