"""Live alerts: open hits, pushed to the browser by server-sent events as soon as the reader commits
them; each hit's full frame with the plate box drawn, the crop enlarged, the read and the entry; and
the disposition, which needs a verification record before it closes the hit."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cloud.evidence import check_read_id
from cloud.index import read_keys
from cloud.storage import StorageError
from gateway import hit_events
from gateway.access.roles import HISTORY, AccessDenied, read_scope
from gateway.access.sessions import principal
from gateway.alert_message import VERIFY_REMINDER
from gateway.evidence_hold import PART_RE
from gateway.hotlist import DESCRIPTION_FIELDS
from gateway.store import RefusedError, Store
from gateway.web.console.session import (
    ConsoleSessions,
    Ctx,
    Refused,
    allow,
    is_bearer,
    token_of,
)

router = APIRouter()
DISPOSITIONS = hit_events.DISPOSITIONS
PAGE_HITS = 50
KEEPALIVE_S = 15.0
POLL_S = 0.1  # how often a stream looks at the wake-up counter (a lock, no query)
CROP_SCALE = 4
HIT_SQL = (
    "SELECT hits.*, coalesce(hits.plate, reads.text) AS text, reads.confidence, reads.alternates,"
    " reads.state AS read_state, reads.box, reads.frame_path, reads.crop_path,"
    " coalesce(hits.camera, reads.camera) AS camera, coalesce(hits.site, reads.site) AS site,"
    " coalesce(hits.captured, reads.captured) AS captured FROM hits"
    " LEFT JOIN reads ON reads.id = hits.read_id"
)


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    from gateway.web.console.app import render as page

    return page(request, template, status, **values)


def reminder(request: Request) -> str:
    """The agency's own verify-first text where configured ([hits] reminder), else the standard."""
    text: str | None = request.app.state.config.alert_reminder
    return text or VERIFY_REMINDER


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def hit_view(row: Any) -> dict[str, Any]:
    """A hit as the templates and the JSON API show it."""
    out = dict(row)
    out["entry"] = json.loads(out["entry"])
    out["alternates"] = json.loads(out["alternates"]) if out.get("alternates") else []
    out["when"] = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(out["captured"])) + "Z"
        if out.get("captured")
        else "?"
    )
    out["has_image"] = bool(out.get("frame_path"))
    out["descriptions"] = [
        (k.replace("_", " "), out["entry"][k]) for k in DESCRIPTION_FIELDS if out["entry"].get(k)
    ]
    return out


def hits_after(store: Store, after: int = 0, open_only: bool = True) -> list[dict[str, Any]]:
    sql = HIT_SQL + " WHERE hits.id > ?" + (" AND hits.disposition IS NULL" if open_only else "")
    rows = store.connect().execute(sql + " ORDER BY hits.id DESC LIMIT ?", (after, PAGE_HITS))
    return [hit_view(r) for r in rows]


def one_hit(store: Store, hit_id: int) -> dict[str, Any]:
    row = store.connect().execute(HIT_SQL + " WHERE hits.id=?", (hit_id,)).fetchone()
    if row is None:
        raise Refused(f"no hit {hit_id}", 404)
    return hit_view(row)


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("alerts.view"))]
) -> Response:
    hits = await run_in_threadpool(hits_after, store_of(request))
    await run_in_threadpool(
        ctx.record, "console alerts", "view", {"open": len(hits)}, "", len(hits)
    )
    last = max((h["id"] for h in hits), default=0)
    if not hits:  # the stream starts after the newest hit, open or not
        row = await run_in_threadpool(
            lambda: store_of(request).connect().execute("SELECT max(id) FROM hits").fetchone()
        )
        last = int(row[0] or 0)
    return render(request, "alerts.html", ctx=ctx, hits=hits, last=last, reminder=reminder(request))


@router.get("/hits/{hit_id}", response_class=HTMLResponse)
async def hit_page(
    request: Request, ctx: Annotated[Ctx, Depends(allow("hits.view"))], hit_id: int
) -> Response:
    hit = await run_in_threadpool(one_hit, store_of(request), hit_id)
    await run_in_threadpool(ctx.record, "console hit", "view", {"hit": hit_id}, "", 1)
    return hit_response(request, ctx, hit)


def hit_response(
    request: Request,
    ctx: Ctx,
    hit: dict[str, Any],
    status: int = 200,
    error: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The hit, its history, and the forms to record the check and then the disposition."""
    store = store_of(request)
    events = [dict(e) for e in hit_events.history(store, hit["id"])]
    for e in events:
        e["when"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"])) + "Z"
    return render(
        request,
        "hit.html",
        status,
        ctx=ctx,
        hit=hit,
        events=events,
        verified=any(e["kind"] == "verification" for e in events),
        reminder=reminder(request),
        dispositions=DISPOSITIONS,
        results=hit_events.RESULTS,
        systems_hint=hit_events.SYSTEMS_HINT,
        error=error,
        may_close=ctx.may("hits.disposition"),
        form=form or {},
    )


@router.get("/hits/{hit_id}/card", response_class=HTMLResponse)
async def hit_card(
    request: Request, ctx: Annotated[Ctx, Depends(allow("alerts.view"))], hit_id: int
) -> Response:
    """One alert card, for the page to add when the stream announces a hit."""
    hit = await run_in_threadpool(one_hit, store_of(request), hit_id)
    await run_in_threadpool(ctx.record, "console hit", "view", {"hit": hit_id}, "", 1)
    return render(request, "hit_card.html", ctx=ctx, hit=hit)


@router.get("/api/hits")
async def api_hits(
    request: Request, ctx: Annotated[Ctx, Depends(allow("hits.view"))]
) -> JSONResponse:
    hits = await run_in_threadpool(hits_after, store_of(request))
    await run_in_threadpool(ctx.record, "console api hits", "view", {"open": True}, "", len(hits))
    return JSONResponse({"hits": hits})


def still_live(request: Request) -> bool:
    """The stream's session is not idle, ended or expired (an open page does not keep it alive)."""
    token = token_of(request)
    sessions_: ConsoleSessions = request.app.state.sessions
    live = sessions_.get(token) if token else None
    if token is None or (live is None and not is_bearer(request)):
        return False
    if live is not None and time.time() - live.last_seen > sessions_.idle_s:
        return False
    try:
        principal(request.app.state.access, token)
    except AccessDenied:
        return False
    return True


def newer_hits(store: Store, last: int) -> list[Any]:
    return (
        store.connect().execute("SELECT id FROM hits WHERE id > ? ORDER BY id", (last,)).fetchall()
    )


@router.get("/api/alerts/stream")
async def alert_stream(
    request: Request, ctx: Annotated[Ctx, Depends(allow("alerts.view"))], after: int = 0
) -> StreamingResponse:
    """Server-sent events: `hit` with the hit's id, within a second of the reader's commit."""
    store = store_of(request)
    await run_in_threadpool(ctx.record, "console alert stream", "view", {"after": after})

    async def events() -> AsyncIterator[bytes]:
        """The store is read only when the reader's wake-up signal moved: a stream costs no
        thread and no query while nothing happens."""
        last, seen, quiet = after, -1, 0.0
        yield b"retry: 2000\n\n"
        while not request.app.state.stopping and not await request.is_disconnected():
            generation = store.new_hits.generation()
            if generation != seen:  # the first time round, or hits were committed since
                seen = generation
                for r in await run_in_threadpool(newer_hits, store, last):
                    last = int(r["id"])
                    yield f"event: hit\ndata: {last}\n\n".encode()
                continue
            await asyncio.sleep(POLL_S)
            quiet += POLL_S
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                if not await run_in_threadpool(still_live, request):
                    yield b"event: logout\ndata: session ended\n\n"
                    return
                yield b": keepalive\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


def read_row(store: Store, read_id: str) -> Any:
    row = store.connect().execute("SELECT * FROM reads WHERE id=?", (read_id,)).fetchone()
    if row is None:
        raise Refused(f"no read {read_id} on this gateway (purged or never stored)", 404)
    return row


def may_see_read(ctx: Ctx, store: Store, row: Any) -> None:
    """A read that made a hit is seen by whoever sees hits; any other by the user's read scope."""
    hit = store.connect().execute("SELECT 1 FROM hits WHERE read_id=?", (row["id"],)).fetchone()
    if hit is not None and ctx.may("hits.view"):
        return
    try:
        scope = read_scope(ctx.user, time.time(), ctx.settings.history_role)
    except AccessDenied as exc:
        raise Refused(str(exc)) from None
    if scope.since is not None and row["captured"] < scope.since:
        raise Refused(f"{ctx.user.name} may see reads of the last 24 h only")
    if scope.sites is not None and row["site"] not in scope.sites:
        raise Refused(f"{ctx.user.name} may not see reads at site {row['site']}")


def frame_with_box(store: Store, row: Any) -> bytes:
    """The full frame with the plate's box drawn, as JPEG."""
    data = (store.root / row["frame_path"]).read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise Refused(f"read {row['id']}: the stored frame does not decode", 500)
    x, y, w, h = (int(v) for v in json.loads(row["box"]))
    thick = max(2, image.shape[1] // 300)
    cv2.rectangle(image, (x, y), (x + w, y + h), (0, 0, 255), thick)
    cv2.putText(
        image,
        row["text"],
        (x, max(0, y - 2 * thick)),
        cv2.FONT_HERSHEY_SIMPLEX,
        max(0.5, image.shape[1] / 1200),
        (0, 0, 255),
        thick,
    )
    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes())


def crop_enlarged(store: Store, row: Any) -> bytes:
    data = (store.root / row["crop_path"]).read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise Refused(f"read {row['id']}: the stored crop does not decode", 500)
    big = cv2.resize(image, None, fx=CROP_SCALE, fy=CROP_SCALE, interpolation=cv2.INTER_CUBIC)
    return bytes(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())


def stored_image(
    ctx: Ctx, target: Any, read_id: str, kind: str, day: str, site: str, camera: str
) -> bytes:
    """A read no longer on the gateway, from storage (the history role only): the frame as
    stored, or the crop from the read's metadata, enlarged."""
    if not ctx.may(HISTORY):
        raise Refused(f"read {read_id} is no longer on this gateway", 404)
    if target is None:
        raise Refused("no storage target on this console", 503)
    for name, value in (("site", site), ("camera", camera)):
        if not PART_RE.match(value):
            raise Refused(f"{name} {value!r}: not a {name} id", 400)
    try:
        time.strptime(day, "%Y-%m-%d")
        check_read_id(read_id)
        frame_key, meta_key = read_keys(day, site, camera, read_id)
        if kind == "frame":
            return bytes(target.get(frame_key))
        plate = base64.b64decode(json.loads(target.get(meta_key))["plate_jpeg"])
    except (ValueError, KeyError, StorageError) as exc:
        raise Refused(f"read {read_id}: not found in storage ({exc})", 404) from None
    image = cv2.imdecode(np.frombuffer(plate, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise Refused(f"read {read_id}: the stored crop does not decode", 500)
    big = cv2.resize(image, None, fx=CROP_SCALE, fy=CROP_SCALE, interpolation=cv2.INTER_CUBIC)
    return bytes(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())


@router.get("/reads/{read_id}/{kind}.jpg")
async def read_image(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("alerts.view"))],
    read_id: str,
    kind: str,
    day: str = "",
    site: str = "",
    camera: str = "",
) -> Response:
    """A read's frame (plate boxed) or crop (enlarged); with day, site and camera, a read the
    gateway no longer holds is fetched from storage."""
    if kind not in ("frame", "crop"):
        raise Refused(f"no image {kind!r}: frame or crop", 404)
    store = store_of(request)

    def build() -> bytes:
        row = store.connect().execute("SELECT * FROM reads WHERE id=?", (read_id,)).fetchone()
        what = {"read": read_id, "image": kind}
        if row is None and day:
            body = stored_image(ctx, request.app.state.target, read_id, kind, day, site, camera)
            ctx.record("console image", "view", {**what, "from": "storage"}, "", 1)
            return body
        row = read_row(store, read_id)
        may_see_read(ctx, store, row)
        ctx.record("console image", "view", what, "", 1)
        return frame_with_box(store, row) if kind == "frame" else crop_enlarged(store, row)

    body = await run_in_threadpool(build)
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


def close_hit(
    ctx: Ctx, store: Store, hit_id: int, status: str, note: str, entry_choice: str = ""
) -> str:
    """Record the disposition (gateway/hit_events.py refuses it before a verification record);
    '' when done, else why not.

    No longer wanted, with the entry still listed: the officer says whether to cancel it (a
    manager's decision, as with `alpr hits disposition --cancel-entry`) or keep it."""
    if status not in DISPOSITIONS:
        return f"choose a disposition: one of {', '.join(DISPOSITIONS)}"
    if not note.strip():
        return "the disposition needs a note"
    db = store.connect()
    row = db.execute("SELECT entry FROM hits WHERE id=?", (hit_id,)).fetchone()
    if row is None:
        return f"no hit {hit_id}"
    if hit_events.verification(store, hit_id) is None:
        return f"hit {hit_id} has no verification record: record the check first"
    entry = store.live_entry(json.loads(row["entry"])) if status == "no-longer-wanted" else None
    if entry is not None and entry_choice not in ("cancel", "keep"):
        return f"hot-list entry {entry['id']} is still active: say whether to cancel or keep it"
    cancel = entry is not None and entry_choice == "cancel"
    if cancel:
        ctx.check("hotlist.approve")
    ctx.record(
        "hits disposition",
        "change",
        {"hit": hit_id, "status": status, "cancel_entry": cancel},
        why=status,
        count=1,
    )
    try:
        hit_events.dispose(store, hit_id, ctx.user.name, status, note)
    except RefusedError as exc:
        return str(exc)
    if cancel and entry is not None:
        reason = f"hit {hit_id} no longer wanted: {note.strip()}"
        ctx.record("hotlist cancel", "change", {"entry": int(entry["id"])}, why=reason, count=1)
        store.cancel_hotlist_entry(int(entry["id"]), ctx.user.name, reason)
    return ""


def record_check(ctx: Ctx, store: Store, hit_id: int, system: str, result: str, note: str) -> str:
    """The verification record: which system was checked, by whom, with what result."""
    try:
        hit_events.verify(store, hit_id, ctx.user.name, system, result, note)
    except RefusedError as exc:
        return str(exc)
    what = {"hit": hit_id, "system": system.strip(), "result": result}
    ctx.record("hits verify", "change", what, why=result, count=1)
    return ""


@router.post("/hits/{hit_id}/verify", response_class=HTMLResponse)
async def verify(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("hits.disposition"))],
    hit_id: int,
    system: str = Form(""),
    result: str = Form(""),
    note: str = Form(""),
) -> Response:
    store = store_of(request)
    error = await run_in_threadpool(record_check, ctx, store, hit_id, system, result, note)
    hit = await run_in_threadpool(one_hit, store, hit_id)
    form = {"system": system, "result": result, "check_note": note}
    return hit_response(request, ctx, hit, 400 if error else 200, error, form)


@router.post("/hits/{hit_id}/disposition", response_class=HTMLResponse)
async def disposition(
    request: Request,
    ctx: Annotated[Ctx, Depends(allow("hits.disposition"))],
    hit_id: int,
    status: str = Form(""),
    note: str = Form(""),
    entry: str = Form(""),
) -> Response:
    store = store_of(request)
    error = await run_in_threadpool(close_hit, ctx, store, hit_id, status, note, entry)
    hit = await run_in_threadpool(one_hit, store, hit_id)
    form = {"status": status, "note": note, "entry": entry}
    return hit_response(request, ctx, hit, 400 if error else 200, error, form)
