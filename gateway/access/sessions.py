"""Login sessions and API tokens. A token is shown once; only its SHA-256 is stored, so a copy of
the database does not let anyone in."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time

from gateway.access import audit, users
from gateway.access.db import AccessDB
from gateway.access.roles import AccessDenied, Principal, check_roles, check_standing
from gateway.access.settings import AccessSettings

TOKEN_PREFIX = "alpr_"


class InvalidToken(AccessDenied):
    """The token is unknown, expired or revoked: log in again."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(
    db: AccessDB,
    user: users.User,
    kind: str,
    roles: frozenset[str],
    hours: float,
    source: str,
    now: float,
) -> tuple[str, int]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cur = db.connect().execute(
        "INSERT INTO sessions (token_sha256, user_id, kind, roles, created, expires, source)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            token_hash(token),
            user.id,
            kind,
            ",".join(sorted(roles)),
            now,
            now + hours * 3600,
            source,
        ),
    )
    return token, int(cur.lastrowid or 0)


def login(
    db: AccessDB,
    name: str,
    password: str,
    code: str | None,
    source: str,
    settings: AccessSettings,
    now: float | None = None,
) -> tuple[str, users.User]:
    """Check the login and start a session; returns the token (for the caller to keep) and user."""
    now = time.time() if now is None else now
    user = users.authenticate(db, name, password, code, source, settings, now)
    token, sid = _issue(db, user, "login", user.roles, settings.session_hours, source, now)
    audit.append(
        db,
        name,
        "login",
        kind="login",
        what={"session": sid, "hours": settings.session_hours},
        source=source,
        at=now,
    )
    return token, user


def api_token(
    db: AccessDB,
    name: str,
    roles: list[str] | None,
    days: float,
    by: str,
    source: str,
    now: float | None = None,
) -> str:
    """A token for an integration acting as `name` with some of its roles; shown once."""
    now = time.time() if now is None else now
    user = users.get(db, name)
    try:
        wanted = check_roles(roles) if roles else user.roles
    except ValueError as exc:
        raise users.UserError(str(exc)) from None
    if not wanted <= user.roles:
        extra = ", ".join(sorted(wanted - user.roles))
        raise users.UserError(f"{name} does not have the role(s) {extra}")
    token, sid = _issue(db, user, "api", wanted, days * 24, source, now)
    audit.append(
        db,
        by,
        "user token",
        kind="user",
        what={"name": name, "session": sid, "roles": sorted(wanted), "days": days},
        source=source,
        at=now,
    )
    return token


def principal(db: AccessDB, token: str, now: float | None = None) -> Principal:
    """Who holds this token, checked: not expired or revoked, the account enabled, training current."""
    now = time.time() if now is None else now
    row = (
        db.connect()
        .execute(
            "SELECT sessions.*, users.name FROM sessions JOIN users ON users.id = sessions.user_id"
            " WHERE token_sha256=?",
            (token_hash(token.strip()),),
        )
        .fetchone()
    )
    if row is None:
        raise InvalidToken("unknown token: log in again")
    if row["revoked"] is not None:
        raise InvalidToken("the session was ended: log in again")
    if row["expires"] <= now:
        raise InvalidToken(
            f"the session expired at {audit.iso(row['expires'])[:19]} UTC: log in again"
        )
    user = users.get(db, row["name"])
    who = user.principal(frozenset(filter(None, row["roles"].split(","))), row["kind"])
    check_standing(who, dt.datetime.fromtimestamp(now, dt.UTC).date())  # roles: `require`
    return who


def logout(db: AccessDB, token: str, source: str) -> str | None:
    """End the session; returns the user's name, None when the token was not a live session."""
    row = (
        db.connect()
        .execute(
            "SELECT sessions.id, users.name FROM sessions JOIN users ON users.id = sessions.user_id"
            " WHERE token_sha256=? AND revoked IS NULL",
            (token_hash(token.strip()),),
        )
        .fetchone()
    )
    if row is None:
        return None
    db.connect().execute("UPDATE sessions SET revoked=? WHERE id=?", (time.time(), row["id"]))
    audit.append(
        db, row["name"], "logout", kind="login", what={"session": row["id"]}, source=source
    )
    return str(row["name"])
