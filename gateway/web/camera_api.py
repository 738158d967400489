"""The camera API (PROTOCOL.md) as a FastAPI router: events, heartbeats, the survey, health.

What can be refused from the headers alone (length, camera id) is refused before the body is read;
the body is then read up to `max_body_bytes` and no further. The signed work (signature, decoding,
fsync and commit) runs in the threadpool, and the answer is sent only after the commit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from gateway import protocol
from gateway.ingest import HEARTBEAT_NUMBERS, Caller, Ingest, Rejection

router = APIRouter(tags=["camera"])


class ErrorAnswer(BaseModel):
    error: str
    time: float | None = None  # present, and the answer signed, when the request authenticated


class EventAnswer(BaseModel):
    event: int
    camera: str
    sequence: int
    frames: int


class TimeAnswer(BaseModel):
    time: float


class Capture(BaseModel):
    sequence: int
    jpeg: str  # base64


class SurveyAnswer(BaseModel):
    camera: str
    captures: list[Capture]
    time: float


class HealthAnswer(BaseModel):
    ok: bool  # false while events are refused (507 disk full, 503 damaged store)
    time: float
    backlog: int  # -1 when the store is damaged
    store: str = "ok"  # "ok", "disk full" or "damaged"


SIGNED = {
    "X-ALPR-Signature": {
        "description": "hex HMAC-SHA256 under the camera's secret of the answer (PROTOCOL.md)",
        "schema": {"type": "string"},
    }
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorAnswer, "description": "refused; see `error`"} for s in statuses}


@dataclass(frozen=True)
class SignedRequest:
    """A camera request whose headers passed and whose body was read within the limit."""

    method: str
    target: str  # path and query exactly as sent: they are signed
    headers: dict[str, str]
    body: bytes
    client: str


def ingest_of(request: Request) -> Ingest:
    ingest: Ingest = request.app.state.ingest
    return ingest


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it runs past `limit` (chunked bodies too)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejection(413, f"body over {limit} bytes", close=True)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_signed(request: Request) -> SignedRequest:
    """Refuse from the headers what can be refused there, then read the body within the limit."""
    ingest = ingest_of(request)
    limit = ingest.config.max_body_bytes
    headers = request.headers
    declared = headers.get("content-length")  # uvicorn's parser already refused a malformed one
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if declared is None and not chunked and request.method != "GET":
        raise Rejection(411, "Content-Length required", close=True)
    if declared is not None and int(declared) > limit:
        raise Rejection(413, f"body over {limit} bytes", close=True)
    ingest.check_camera(headers.get("x-alpr-camera", ""), chunked or int(declared or 0) > 0)
    try:
        body = await read_limited(request, limit)
    except ClientDisconnect:
        raise Rejection(400, "client went away before sending the whole body", close=True) from None
    target = request.scope["raw_path"].decode("latin-1")
    if request.scope["query_string"]:
        target += "?" + request.scope["query_string"].decode("latin-1")
    client = request.client.host if request.client else ""
    return SignedRequest(request.method, target, dict(headers), body, client)


def signed_answer(
    caller: Caller, status: int, payload: dict[str, Any], with_time: bool = True
) -> Response:
    """A JSON answer signed for the camera (PROTOCOL.md), with the gateway's time unless it is an
    event's answer, which stays byte for byte the first one on a repeat."""
    body = json.dumps({**payload, "time": time.time()} if with_time else payload).encode()
    signature = protocol.sign_response(caller.secret, status, caller.camera, caller.sequence, body)
    return Response(
        body, status, headers={"X-ALPR-Signature": signature}, media_type="application/json"
    )


def header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


# The signed headers and the bodies are documented here and checked by gateway/ingest.py, so that
# a malformed one gets the protocol's own answer (401, 400) rather than a framework's 422.
SIGNING = [
    header("X-ALPR-Camera", "camera id, as in the deployment config"),
    header("X-ALPR-Timestamp", "Unix seconds when the request was sent"),
    header("X-ALPR-Sequence", "the event's sequence number; 0 for heartbeats and surveys"),
    header("X-ALPR-Signature", "hex HMAC-SHA256 of the string to sign (PROTOCOL.md)"),
]
EVENT_DOC = {
    "parameters": SIGNING,
    "requestBody": {
        "required": True,
        "content": {protocol.EVENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
}
HEARTBEAT_SCHEMA = {
    "type": "object",
    "description": "the camera's health (PROTOCOL.md); every number anywhere in it must be finite,"
    " and keys not named here are kept as sent",
    "properties": {
        **{key: {"type": "number"} for key in HEARTBEAT_NUMBERS},
        "firmware": {"type": "string"},
        "error": {"type": ["string", "null"], "description": "the safe-mode reason, if any"},
        "time": {"type": "number", "description": "the camera's clock, Unix seconds"},
    },
}
HEARTBEAT_DOC = {
    "parameters": SIGNING,
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": HEARTBEAT_SCHEMA}},
    },
}
SURVEY_DOC = {
    "parameters": [
        *SIGNING,
        {"name": "limit", "in": "query", "required": False, "description": "captures, 1 to 50",
         "schema": {"type": "integer", "default": 20}},
    ]
}  # fmt: skip


@router.post(
    protocol.EVENT_PATH,
    status_code=201,
    summary="one trigger event: metadata and 1 to 16 JPEG frames",
    openapi_extra=EVENT_DOC,
    responses={
        201: {"model": EventAnswer, "headers": SIGNED, "description": "stored durably"},
        200: {"model": EventAnswer, "headers": SIGNED, "description": "a repeat, stored before"},
        **errors(400, 401, 403, 409, 411, 413),
        503: {"model": ErrorAnswer, "description": "the store is damaged: kept by the camera"},
        507: {"model": ErrorAnswer, "description": "the disk is full: kept by the camera"},
    },
)
async def post_event(request: Request) -> Response:
    signed = await read_signed(request)
    return await run_in_threadpool(store_event, ingest_of(request), signed)


def store_event(ingest: Ingest, signed: SignedRequest) -> Response:
    """In the threadpool: verify, check the frames, fsync, commit; the answer follows the commit."""
    caller = ingest.authenticate(signed.method, signed.target, signed.headers, signed.body)
    status, payload = ingest.post_event(caller, signed.body)
    return signed_answer(caller, status, payload, with_time=False)


@router.post(
    protocol.HEARTBEAT_PATH,
    summary="a camera's health, hourly",
    openapi_extra=HEARTBEAT_DOC,
    responses={
        200: {"model": TimeAnswer, "headers": SIGNED, "description": "recorded"},
        **errors(400, 401, 403, 411, 413, 503, 507),
    },
)
async def post_heartbeat(request: Request) -> Response:
    signed = await read_signed(request)
    return await run_in_threadpool(store_heartbeat, ingest_of(request), signed)


def store_heartbeat(ingest: Ingest, signed: SignedRequest) -> Response:
    caller = ingest.authenticate(signed.method, signed.target, signed.headers, signed.body)
    status, payload = ingest.post_heartbeat(caller, signed.body)
    return signed_answer(caller, status, payload)


@router.get(
    protocol.SURVEY_PATH,
    summary="the camera's latest captures, for the technician's site survey",
    openapi_extra=SURVEY_DOC,
    responses={
        200: {"model": SurveyAnswer, "headers": SIGNED, "description": "latest captures"},
        **errors(400, 401, 403),
    },
)
async def get_survey(request: Request) -> Response:
    """Refusals are written to the access log by the app's error handler."""
    signed = await read_signed(request)
    return await run_in_threadpool(survey, ingest_of(request), signed)


def survey(ingest: Ingest, signed: SignedRequest) -> Response:
    caller = ingest.authenticate(signed.method, signed.target, signed.headers, signed.body)
    query = signed.target.partition("?")[2]
    status, payload = ingest.survey(caller, query, signed.client)
    return signed_answer(caller, status, payload)


@router.get(
    protocol.HEALTH_PATH, summary="liveness, reader backlog and the store's state; unauthenticated"
)
def get_health(request: Request) -> HealthAnswer:
    return HealthAnswer(**ingest_of(request).health())
