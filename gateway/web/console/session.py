"""Console sessions: the login token in a cookie, an idle timeout, a CSRF token per session, and
`Ctx`, which every route gets from `allow(action)` after the role check of gateway/access.

The token is an ordinary login session of gateway/access/sessions.py (expiry, revocation, training
and a disabled account are checked there on every request); the console adds what a browser needs:
the idle clock and the CSRF token (gateway/access/console_sessions.py), kept in the access database,
so a restarted gateway keeps its users logged in.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gateway.access import audit, sessions
from gateway.access.console_sessions import ConsoleSessions
from gateway.access.db import AccessDB
from gateway.access.roles import AccessDenied, Principal, require
from gateway.access.settings import AccessSettings, load

COOKIE = "alpr_console"
LOGIN_CSRF_COOKIE = "alpr_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class NotLoggedIn(Exception):
    """No live console session: pages send the browser to the login page, the API answers 401."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Refused(Exception):
    """The role check (or a CSRF check) failed: 403 with the reason, already in the audit log."""

    def __init__(self, why: str, status: int = 403) -> None:
        super().__init__(why)
        self.why = why
        self.status = status


@dataclass(frozen=True)
class Ctx:
    """Who is asking, through which session, from where: what every route acts with."""

    user: Principal
    db: AccessDB
    settings: AccessSettings
    source: str
    csrf: str
    request: Request

    def record(
        self, action: str, kind: str, what: dict[str, Any], why: str = "", count: int = 0
    ) -> None:
        """One audit record of what the user looked at or changed, before it is shown."""
        audit.append(
            self.db,
            self.user.name,
            action,
            kind=kind,
            what=what,
            why=why,
            source=self.source,
            result_count=count,
        )

    def may(self, action: str) -> bool:
        try:
            require(self.user, action, self.settings.history_role)
        except AccessDenied:
            return False
        return True

    def check(self, action: str) -> None:
        """A further role check inside a route (e.g. cancelling an entry from a disposition)."""
        try:
            require(self.user, action, self.settings.history_role)
        except AccessDenied as exc:
            deny(self.db, self.user.name, action, self.request, self.source, exc)


def source_of(request: Request) -> str:
    client = request.client.host if request.client else "?"
    return f"console:{client}"


def deny(
    db: AccessDB, name: str, action: str, request: Request, source: str, exc: Exception
) -> None:
    audit.append(
        db,
        name,
        "denied",
        kind="denied",
        what={"action": action, "page": f"{request.method} {request.url.path}"},
        why=str(exc),
        source=source,
    )
    raise Refused(str(exc))


def is_bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def token_of(request: Request) -> str | None:
    """The cookie, or for scripts an `Authorization: Bearer` API token (no cookie, no CSRF)."""
    if is_bearer(request):
        return request.headers["authorization"][7:].strip() or None
    return request.cookies.get(COOKIE) or None


async def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise Refused("the form's CSRF token is missing or wrong: reload the page", 403)


def authenticate(request: Request, db: AccessDB, store: ConsoleSessions) -> tuple[Principal, str]:
    """The principal and CSRF token of a live session; NotLoggedIn otherwise (in the threadpool)."""
    token = token_of(request)
    if token is None:
        raise NotLoggedIn("please log in")
    now = time.time()
    csrf = ""
    if not is_bearer(request):
        live = store.touch(token, now)
        if live is None:
            name = sessions.logout(db, token, source_of(request))  # idle or unknown: end it
            raise NotLoggedIn(
                "the session was idle too long: log in again" if name else "please log in"
            )
        csrf = live.csrf
    try:
        who = sessions.principal(db, token, now)
    except AccessDenied as exc:
        store.end(token)
        raise NotLoggedIn(str(exc)) from None
    return who, csrf


def allow(action: str, audited: bool = True) -> Callable[[Request], Awaitable[Ctx]]:
    """A route dependency: a live session, the role check through `require`, CSRF on POST.

    A refusal goes into the audit log as `denied`, as on the command line."""

    async def dependency(request: Request) -> Ctx:
        db: AccessDB = request.app.state.access
        live: ConsoleSessions = request.app.state.sessions
        who, csrf = await run_in_threadpool(authenticate, request, db, live)
        settings = await run_in_threadpool(load, db)
        source = source_of(request)
        try:
            require(who, action, settings.history_role)
        except AccessDenied as exc:
            await run_in_threadpool(deny, db, who.name, action, request, source, exc)
        if request.method == "POST" and csrf:
            await check_csrf(request, csrf)
        return Ctx(who, db, settings, source, csrf, request)

    dependency.audited = audited  # type: ignore[attr-defined]
    return dependency
