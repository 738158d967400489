"""The camera API (PROTOCOL.md) as a FastAPI router: events, heartbeats, the survey, health.

What can be refused from the headers alone (length, camera id) is refused before the body is read;
the body is then read up to `max_body_bytes` and no further. The signed work (signature, decoding,
fsync and commit) runs in the threadpool, and the answer is sent only after the commit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from gateway import protocol
from gateway.ingest import Caller, Ingest, Rejection

router = APIRouter(tags=["camera"])


class ErrorAnswer(BaseModel):
    error: str
    time: float | None = None  # present, and the answer signed, when the request authenticated


class EventAnswer(BaseModel):
    event: int
    camera: str
    sequence: int
    frames: int
    time: float


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
    ok: bool
    time: float
    backlog: int


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


async def signed_request(
    request: Request,
    x_alpr_camera: Annotated[str | None, Header(description="camera id")] = None,
    x_alpr_timestamp: Annotated[str | None, Header(description="Unix seconds at sending")] = None,
    x_alpr_sequence: Annotated[str | None, Header(description="event sequence; 0 otherwise")] = None,
    x_alpr_signature: Annotated[str | None, Header(description="hex HMAC-SHA256")] = None,
) -> SignedRequest:
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
    ingest.check_camera(x_alpr_camera or "", chunked or int(declared or 0) > 0)
    try:
        body = await read_limited(request, limit)
    except ClientDisconnect:
        raise Rejection(400, "client went away before sending the whole body", close=True) from None
    target = request.scope["raw_path"].decode("latin-1")
    if request.scope["query_string"]:
        target += "?" + request.scope["query_string"].decode("latin-1")
    client = request.client.host if request.client else ""
    return SignedRequest(request.method, target, dict(headers), body, client)


Signed = Annotated[SignedRequest, Depends(signed_request)]


def signed_answer(caller: Caller, status: int, payload: dict[str, Any]) -> Response:
    """A JSON answer with the gateway's time, signed for the camera (PROTOCOL.md)."""
    body = json.dumps({**payload, "time": time.time()}).encode()
    signature = protocol.sign_response(caller.secret, status, caller.camera, caller.sequence, body)
    return Response(
        body, status, headers={"X-ALPR-Signature": signature}, media_type="application/json"
    )


EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {protocol.EVENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}
JSON_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
}


@router.post(
    protocol.EVENT_PATH,
    status_code=201,
    summary="one trigger event: metadata and 1 to 16 JPEG frames",
    openapi_extra=EVENT_BODY,
    responses={
        201: {"model": EventAnswer, "headers": SIGNED, "description": "stored durably"},
        200: {"model": EventAnswer, "headers": SIGNED, "description": "a repeat, stored before"},
        **errors(400, 401, 403, 409, 411, 413),
    },
)
def post_event(request: Request, signed: Signed) -> Response:
    ingest = ingest_of(request)
    caller = ingest.authenticate(signed.method, signed.target, signed.headers, signed.body)
    status, payload = ingest.post_event(caller, signed.body)
    return signed_answer(caller, status, payload)


@router.post(
    protocol.HEARTBEAT_PATH,
    summary="a camera's health, hourly",
    openapi_extra=JSON_BODY,
    responses={
        200: {"model": TimeAnswer, "headers": SIGNED, "description": "recorded"},
        **errors(400, 401, 403, 411, 413),
    },
)
def post_heartbeat(request: Request, signed: Signed) -> Response:
    ingest = ingest_of(request)
    caller = ingest.authenticate(signed.method, signed.target, signed.headers, signed.body)
    status, payload = ingest.post_heartbeat(caller, signed.body)
    return signed_answer(caller, status, payload)


@router.get(
    protocol.SURVEY_PATH,
    summary="the camera's latest captures, for the technician's site survey",
    responses={
        200: {"model": SurveyAnswer, "headers": SIGNED, "description": "latest captures"},
        **errors(400, 401, 403),
    },
)
def get_survey(
    request: Request,
    signed: Signed,
    limit: Annotated[str, Query(description="captures wanted, 1 to 50")] = "20",
) -> Response:
    """Refusals are written to the access log by the app's error handler."""
    ingest = ingest_of(request)
    caller = ingest.authenticate(signed.method, signed.target, signed.headers, signed.body)
    status, payload = ingest.survey(caller, request.scope["query_string"].decode(), signed.client)
    return signed_answer(caller, status, payload)


@router.get(protocol.HEALTH_PATH, summary="liveness and reader backlog; unauthenticated")
def get_health(request: Request) -> HealthAnswer:
    return HealthAnswer(**ingest_of(request).health())
