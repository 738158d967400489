"""The officers' console: its own FastAPI app on its own listener, never on the cameras' network.

Pages are Jinja2 templates with htmx (vendored under gateway/web/static, no build step, nothing from
the internet). Every response carries a Content-Security-Policy that forbids inline scripts and
framing; every route checks the role through gateway/access and writes to the audit log.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.access import sessions
from gateway.access.db import AccessDB
from gateway.access.roles import AccessDenied
from gateway.access.settings import load
from gateway.config import Config
from gateway.store import Store
from gateway.web.console import (
    alerts,
    audit_pages,
    cameras,
    hotlists,
    reports,
    search,
    search_approval,
    sharing,
)
from gateway.web.console.session import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    ConsoleSessions,
    NotLoggedIn,
    Refused,
    source_of,
    token_of,
)

log = logging.getLogger("alpr.console")
WEB = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=str(WEB / "templates"))
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
# (path, label, action): the menu shows the pages the user's roles open
MENU = [
    ("/alerts", "Alerts", "alerts.view"),
    ("/search", "Search", "reads.recent"),
    ("/hotlists", "Hot lists", "hotlist.view"),
    ("/cameras", "Cameras", "cameras.view"),
    ("/sharing", "Sharing", "share.view"),
    ("/search/requests", "Search requests", "search.approve"),
    ("/reports", "Reports", "reports.publish"),
    ("/audit", "Audit", "audit.read"),
]


class SecurityHeaders:
    """Pure ASGI (server-sent events stream through untouched): the headers on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_console_app(
    config: Config, store: Store, access: AccessDB | None = None, target: Any = None
) -> FastAPI:
    """The console for one gateway; `target` is the storage target for evidence holds."""
    app = FastAPI(
        title="fixed-alpr console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.config = config
    app.state.store = store
    app.state.access = access or AccessDB(config.data_dir)
    app.state.sessions = ConsoleSessions(app.state.access, config.console.idle_minutes * 60)
    app.state.sessions.purge()
    app.state.target = target
    app.state.tls = config.console.tls_cert is not None
    app.state.stopping = False
    app.state.templates = TEMPLATES
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    for module in (
        alerts,
        search_approval,
        search,
        hotlists,
        cameras,
        sharing,
        reports,
        audit_pages,
    ):
        app.include_router(module.router)
    app.add_api_route("/", home, methods=["GET"])
    app.add_api_route("/login", login_page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/login", login, methods=["POST"])
    app.add_api_route("/logout", logout, methods=["POST"])
    app.add_exception_handler(NotLoggedIn, on_not_logged_in)  # type: ignore[arg-type]
    app.add_exception_handler(Refused, on_refused)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)
    return app


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A page, with the menu the user's roles open and the session's CSRF token."""
    ctx = values.get("ctx")
    menu = [(p, label) for p, label, action in MENU if ctx is not None and ctx.may(action)]
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        template,
        {"menu": menu, "agency": request.app.state.config.agency, **values},
        status_code=status,
    )


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def on_not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
    if wants_json(request):
        return JSONResponse({"error": exc.why}, 401)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = f"/login?next={quote(request.url.path)}&why={quote(exc.why)}"
    response = RedirectResponse(target, 303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def on_refused(request: Request, exc: Refused) -> Response:
    if wants_json(request):
        return JSONResponse({"error": exc.why}, exc.status)
    return render(request, "refused.html", exc.status, why=exc.why, ctx=None)


async def home(request: Request) -> Response:
    return RedirectResponse("/alerts", 303)


def safe_next(target: str | None) -> str:
    """Only a path on this console: never an address elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/alerts"
    return target


async def login_page(request: Request, next: str = "/alerts", why: str = "") -> HTMLResponse:
    return login_form(request, safe_next(next), why, "")


def login_form(
    request: Request, next_path: str, why: str, name: str, status: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", status, next=next_path, why=why, name=name, login_csrf=token
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=request.app.state.tls,
        samesite="strict",
        path="/login",
    )
    return response


async def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    code: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/alerts"),
) -> Response:
    """Password, and the TOTP code where the user's roles need one; every attempt is audited."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf, expected):
        return login_form(request, safe_next(next), "the form expired: try again", username, 403)
    db: AccessDB = request.app.state.access
    source = source_of(request)

    def attempt() -> tuple[str, str]:
        token, user = sessions.login(db, username.strip(), password, code or None, source, load(db))
        return token, user.name

    try:
        token, name = await run_in_threadpool(attempt)
    except AccessDenied as exc:
        return login_form(request, safe_next(next), str(exc), username, 401)
    await run_in_threadpool(request.app.state.sessions.start, token, name)
    log.info("console login: %s from %s", name, source)
    response = RedirectResponse(safe_next(next), 303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        secure=request.app.state.tls,
        samesite="strict",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    """Ends the session (audited by gateway/access); needs the session's CSRF token."""
    token = token_of(request)
    live: ConsoleSessions = request.app.state.sessions
    if token is not None:
        entry = await run_in_threadpool(live.get, token)
        form = await request.form()
        if entry is not None and secrets.compare_digest(str(form.get("csrf", "")), entry.csrf):
            await run_in_threadpool(live.end, token)
            await run_in_threadpool(
                sessions.logout, request.app.state.access, token, source_of(request)
            )
    response = RedirectResponse("/login?why=" + quote("logged out"), 303)
    response.delete_cookie(COOKIE, path="/")
    return response
