"""User accounts: argon2 password hashes, lockout after repeated failures, a TOTP second factor
for the roles that search or export, and a training date without which nobody gets in.

Every change and every login attempt is appended to the audit log here, not by the callers.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.access import audit
from gateway.access.db import AccessDB
from gateway.access.roles import (
    AccessDenied,
    AccountDisabled,
    Principal,
    TrainingExpired,
    check_roles,
    second_factor_roles,
    training_current,
)
from gateway.access.settings import AccessSettings

MIN_PASSWORD = 12
HASHER = PasswordHasher()
_dummy: tuple[PasswordHasher, str] | None = None


def _dummy_hash() -> str:
    """A hash by the current HASHER, for equal work on unknown names; made on first need rather
    than at import, where every `alpr` command would pay a full Argon2 hash for nothing."""
    global _dummy
    if _dummy is None or _dummy[0] is not HASHER:
        _dummy = (HASHER, HASHER.hash("not a password of anyone"))
    return _dummy[1]


class UserError(ValueError):
    """A request about users is wrong: unknown name, weak password, bad date..."""


class LoginFailed(AccessDenied):
    """Wrong name, password or code: the message does not say which."""


class AccountLocked(AccessDenied):
    """Too many failures in a row; the account opens again later or when an admin enables it."""


class SecondFactorRequired(AccessDenied):
    """This user's roles need a TOTP code (or one to be enrolled)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    roles: frozenset[str]
    sites: frozenset[str]
    enabled: bool
    has_totp: bool
    trained_on: str | None
    training_expires: str | None
    locked_until: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> User:
        return cls(
            row["id"],
            row["name"],
            frozenset(filter(None, row["roles"].split(","))),
            frozenset(filter(None, row["sites"].split(","))),
            bool(row["enabled"]),
            row["totp_secret"] is not None,
            row["trained_on"],
            row["training_expires"],
            row["locked_until"],
        )

    def principal(self, roles: frozenset[str] | None = None, via: str = "login") -> Principal:
        return Principal(
            self.name,
            self.roles if roles is None else roles & self.roles,
            self.enabled,
            self.training_expires,
            self.sites,
            via,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roles": sorted(self.roles),
            "sites": sorted(self.sites),
            "enabled": self.enabled,
            "second_factor": self.has_totp,
            "trained_on": self.trained_on,
            "training_expires": self.training_expires,
            "locked_until": audit.iso(self.locked_until) if self.locked_until else None,
        }


def _row(db: AccessDB, name: str) -> sqlite3.Row:
    row: sqlite3.Row | None = (
        db.connect().execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
    )
    if row is None:
        raise UserError(f"no user {name!r}")
    return row


def get(db: AccessDB, name: str) -> User:
    return User.from_row(_row(db, name))


def list_users(db: AccessDB) -> list[User]:
    return [User.from_row(r) for r in db.connect().execute("SELECT * FROM users ORDER BY name")]


def count(db: AccessDB) -> int:
    return int(db.connect().execute("SELECT count(*) FROM users").fetchone()[0])


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if password.strip() != password:
        raise UserError("the password must not start or end with a space")
    return password


def _date(text: str, what: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise UserError(f"{what}: expected a date YYYY-MM-DD, got {text!r}") from None


def needs_second_factor(user: User, settings: AccessSettings) -> bool:
    return bool(user.roles & second_factor_roles(settings.history_role))


def add(
    db: AccessDB,
    name: str,
    password: str,
    roles: list[str],
    by: str,
    source: str,
    settings: AccessSettings,
    sites: list[str] | None = None,
) -> tuple[User, str | None]:
    """Create a user; returns it and, when its roles need one, the new TOTP secret (shown once)."""
    name = name.strip()
    if not name or "," in name or any(c.isspace() for c in name):
        raise UserError(f"bad user name {name!r}: no spaces or commas")
    try:
        role_set = check_roles(roles)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    digest = HASHER.hash(check_password(password))
    secret = (
        pyotp.random_base32() if role_set & second_factor_roles(settings.history_role) else None
    )
    try:
        db.connect().execute(
            "INSERT INTO users (name, password_hash, roles, sites, totp_secret, created, created_by)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                name,
                digest,
                ",".join(sorted(role_set)),
                ",".join(sorted(sites or [])),
                secret,
                time.time(),
                by,
            ),
        )
    except sqlite3.IntegrityError:
        raise UserError(f"user {name!r} exists already") from None
    audit.append(
        db,
        by,
        "user add",
        kind="user",
        what={"name": name, "roles": sorted(role_set), "sites": sorted(sites or [])},
        source=source,
    )
    return get(db, name), secret


def _change(
    db: AccessDB,
    name: str,
    sql: str,
    args: tuple[Any, ...],
    by: str,
    source: str,
    action: str,
    what: dict[str, Any],
) -> User:
    _row(db, name)
    db.connect().execute(sql, (*args, name))
    audit.append(db, by, action, kind="user", what={"name": name, **what}, source=source)
    return get(db, name)


def set_enabled(db: AccessDB, name: str, enabled: bool, by: str, source: str) -> User:
    """Disable (sessions end) or enable (the lockout is cleared too)."""
    user = _change(
        db,
        name,
        "UPDATE users SET enabled=?, failures=0, locked_until=0 WHERE name=?",
        (int(enabled),),
        by,
        source,
        "user enable" if enabled else "user disable",
        {},
    )
    if not enabled:
        db.connect().execute(
            "UPDATE sessions SET revoked=? WHERE user_id=? AND revoked IS NULL",
            (time.time(), user.id),
        )
    return user


def set_roles(
    db: AccessDB, name: str, roles: list[str], by: str, source: str, settings: AccessSettings
) -> tuple[User, str | None]:
    """Replace a user's roles; a TOTP secret is enrolled (and returned once) if now needed."""
    try:
        role_set = check_roles(roles)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    user = _change(
        db,
        name,
        "UPDATE users SET roles=? WHERE name=?",
        (",".join(sorted(role_set)),),
        by,
        source,
        "user roles",
        {"roles": sorted(role_set)},
    )
    if needs_second_factor(user, settings) and not user.has_totp:
        return user, enroll_totp(db, name, by, source)
    return user, None


def set_sites(db: AccessDB, name: str, sites: list[str], by: str, source: str) -> User:
    return _change(
        db,
        name,
        "UPDATE users SET sites=? WHERE name=?",
        (",".join(sorted(sites)),),
        by,
        source,
        "user sites",
        {"sites": sorted(sites)},
    )


def enroll_totp(db: AccessDB, name: str, by: str, source: str) -> str:
    """A new second-factor secret (the old one stops working); returned once, never shown again."""
    secret = pyotp.random_base32()
    _change(
        db,
        name,
        "UPDATE users SET totp_secret=?, totp_last_step=0 WHERE name=?",
        (secret,),
        by,
        source,
        "user second factor",
        {},
    )
    return secret


def train(
    db: AccessDB,
    name: str,
    on: str,
    expires: str | None,
    by: str,
    source: str,
    settings: AccessSettings,
) -> User:
    trained = _date(on, "training date")
    if expires is None:
        until = dt.date.fromisoformat(trained) + dt.timedelta(days=settings.training_valid_days)
        expires = until.isoformat()
    expires = _date(expires, "training expiry")
    if expires < trained:
        raise UserError(f"training expiry {expires} is before the training date {trained}")
    return _change(
        db,
        name,
        "UPDATE users SET trained_on=?, training_expires=? WHERE name=?",
        (trained, expires),
        by,
        source,
        "user train",
        {"trained_on": trained, "training_expires": expires},
    )


def set_password(db: AccessDB, name: str, password: str, by: str, source: str) -> User:
    digest = HASHER.hash(check_password(password))
    return _change(
        db,
        name,
        "UPDATE users SET password_hash=?, failures=0, locked_until=0 WHERE name=?",
        (digest,),
        by,
        source,
        "user passwd",
        {},
    )


def training_warning(user: User | Principal, settings: AccessSettings, today: dt.date) -> str:
    """A line to show when training runs out within the warning period, else ''."""
    if not user.training_expires:
        return ""
    left = (dt.date.fromisoformat(user.training_expires) - today).days
    if 0 <= left <= settings.training_warn_days:
        return f"training expires on {user.training_expires} ({left} days): renew it in time"
    return ""


def authenticate(
    db: AccessDB,
    name: str,
    password: str,
    code: str | None,
    source: str,
    settings: AccessSettings,
    now: float | None = None,
) -> User:
    """Check a login; every attempt, good or bad, is appended to the audit log."""
    now = time.time() if now is None else now
    conn = db.connect()
    row = conn.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()

    def fail(reason: str, error: AccessDenied) -> AccessDenied:
        audit.append(
            db,
            name or "?",
            "login failed",
            kind="login",
            what={"reason": reason},
            source=source,
            at=now,
        )
        return error

    if row is None:
        _verify(_dummy_hash(), password)
        raise fail("unknown user", LoginFailed("wrong name, password or code"))
    if row["locked_until"] > now:
        until = audit.iso(row["locked_until"])[:19]
        raise fail("locked", AccountLocked(f"{name}: account locked until {until} UTC"))
    if not _verify(row["password_hash"], password):
        failures = row["failures"] + 1
        locked = failures >= settings.max_failures
        conn.execute(
            "UPDATE users SET failures=?, locked_until=? WHERE id=?",
            (
                0 if locked else failures,
                now + settings.lock_minutes * 60 if locked else 0,
                row["id"],
            ),
        )
        if locked:
            audit.append(
                db,
                name,
                "account locked",
                kind="login",
                what={"failures": failures, "minutes": settings.lock_minutes},
                source=source,
                at=now,
            )
        raise fail("password", LoginFailed("wrong name, password or code"))
    user = User.from_row(row)
    if not user.enabled:
        raise fail("disabled", AccountDisabled(f"{name}: the account is disabled"))
    if not training_current(user.training_expires, dt.datetime.fromtimestamp(now, dt.UTC).date()):
        when = user.training_expires or "never recorded"
        raise fail("training", TrainingExpired(f"{name}: training is not current ({when})"))
    if needs_second_factor(user, settings):
        if row["totp_secret"] is None:
            raise fail(
                "no second factor",
                SecondFactorRequired(
                    f"{name}: a second factor is needed; ask an admin to enrol one"
                ),
            )
        if not code:
            raise fail("no code", SecondFactorRequired(f"{name}: a TOTP code is needed"))
        step = _totp_step(row["totp_secret"], code.strip(), now)
        if step is None or step <= row["totp_last_step"]:
            raise fail("code", LoginFailed("wrong name, password or code"))
        conn.execute("UPDATE users SET totp_last_step=? WHERE id=?", (step, row["id"]))
    conn.execute("UPDATE users SET failures=0 WHERE id=?", (row["id"],))
    if HASHER.check_needs_rehash(row["password_hash"]):
        conn.execute(
            "UPDATE users SET password_hash=? WHERE id=?", (HASHER.hash(password), row["id"])
        )
    return user


def _verify(digest: str, password: str) -> bool:
    try:
        return HASHER.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str, code: str, now: float) -> int | None:
    """The time step the code belongs to (this one or the one before), None if it fits neither."""
    totp = pyotp.TOTP(secret)
    for back in (0, 1):
        at = now - back * totp.interval
        if totp.verify(code, for_time=int(at), valid_window=0):
            return int(at // totp.interval)
    return None
