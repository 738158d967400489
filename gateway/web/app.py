"""The gateway's one FastAPI app. Routers join it by area (the camera API today); every listener
serves the same app, so a refusal looks the same everywhere: `{"error": "..."}` and one log line."""

from __future__ import annotations

import json
import logging
import time

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from gateway import protocol
from gateway.config import Config
from gateway.ingest import Ingest, Rejection
from gateway.store import Store
from gateway.web import camera_api

log = logging.getLogger("alpr.ingest")
TITLE = "fixed-alpr gateway"
API_VERSION = "1"  # PROTOCOL.md version


def build_app() -> FastAPI:
    """The routes and error handlers, without a store: enough to print the OpenAPI spec."""
    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        summary="Camera API: signed events, heartbeats and surveys (see gateway/PROTOCOL.md)",
        docs_url=None,  # the interactive pages load scripts from the internet; the spec is enough
        redoc_url=None,
        openapi_url="/openapi.json",
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.include_router(camera_api.router)
    app.add_exception_handler(Rejection, on_rejection)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_invalid)  # type: ignore[arg-type]
    return app


def create_app(config: Config, store: Store) -> FastAPI:
    app = build_app()
    app.state.ingest = Ingest(config, store)
    return app


def openapi_text() -> str:
    """The spec as checked in (gateway/openapi.json): `alpr gateway openapi` prints it."""
    return json.dumps(build_app().openapi(), indent=2, sort_keys=True) + "\n"


def error_answer(rejection: Rejection) -> Response:
    headers = {"Connection": "close"} if rejection.close else {}
    payload: dict[str, object] = {"error": rejection.reason}
    caller = rejection.caller
    if caller is None:
        body = json.dumps(payload).encode()
    else:
        body = json.dumps({**payload, "time": time.time()}).encode()
        headers["X-ALPR-Signature"] = protocol.sign_response(
            caller.secret, rejection.status, caller.camera, caller.sequence, body
        )
    return Response(body, rejection.status, headers=headers, media_type="application/json")


async def on_rejection(request: Request, rejection: Rejection) -> Response:
    client = request.client.host if request.client else "?"
    camera = request.headers.get("x-alpr-camera", "")
    log.warning(
        "rejected %s %s from %s camera=%r: %d %s",
        request.method,
        request.url.path,
        client,
        camera,
        rejection.status,
        rejection.reason,
    )
    if request.url.path == protocol.SURVEY_PATH:  # a refused look at captures is logged too
        ingest: Ingest = request.app.state.ingest
        query = request.scope["query_string"].decode("latin-1")
        await run_in_threadpool(
            ingest.log_survey, camera, client, query, 0, f"refused: {rejection.reason}"
        )
    return error_answer(rejection)


async def on_http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code in (404, 405):  # as in PROTOCOL.md: an unknown method and path is a 404
        rejection = Rejection(404, f"no such endpoint {request.method} {request.url.path}")
    else:
        rejection = Rejection(exc.status_code, str(exc.detail))
    rejection.close = True  # its body, if any, was not read
    return await on_rejection(request, rejection)


async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
    return await on_rejection(request, Rejection(400, f"invalid request: {exc.errors()}"))
