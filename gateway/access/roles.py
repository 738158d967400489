"""The one table of who may do what, and `require`, the one place that checks it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ROLES = ("admin", "manager", "investigator", "officer", "auditor", "technician")
HISTORY = "reads.history"  # searching reads older than a day or at any site: one role only
DEFAULT_HISTORY_ROLE = "investigator"
RECENT_HOURS = 24

# action -> roles allowed. HISTORY's entry is the default; `permissions(history_role)` replaces it.
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "users.manage": frozenset({"admin"}),
    "settings.edit": frozenset({"admin"}),
    "config.edit": frozenset({"admin"}),
    "hotlist.approve": frozenset({"manager"}),  # approve entries and sources, cancel, import
    "hotlist.request": frozenset({"officer", "investigator", "manager"}),  # alerts once approved
    "hotlist.view": frozenset({"officer", "investigator", "manager"}),
    "search.approve": frozenset({"manager"}),
    HISTORY: frozenset({DEFAULT_HISTORY_ROLE}),
    "reads.export": frozenset({"investigator", "manager"}),
    "reads.recent": frozenset({"officer", "investigator"}),
    "alerts.view": frozenset({"officer", "investigator", "manager"}),
    "hits.view": frozenset({"officer", "investigator", "manager"}),
    "hits.disposition": frozenset({"officer", "investigator"}),  # verify, dispose, outcome
    "hits.export": frozenset({"investigator", "manager"}),  # CSV for the records system
    "audit.read": frozenset({"auditor", "manager"}),
    "audit.verify": frozenset({"auditor", "manager", "admin"}),
    "audit.conduct": frozenset({"auditor"}),
    "audit.export": frozenset({"auditor"}),
    "audit.head": frozenset({"auditor", "admin"}),
    "audit.purge": frozenset({"admin"}),
    "cameras.manage": frozenset({"technician"}),
    "cameras.view": frozenset({"technician", "manager"}),
    "gateway.status": frozenset(ROLES),  # counts only, no plates
    "retention.proof": frozenset({"auditor", "manager", "admin"}),
    "storage.init": frozenset({"admin"}),  # the bucket's rules: lock, lifecycle, policy
    "storage.check": frozenset({"admin", "auditor", "manager"}),  # drift, reads kept too long
    "evidence.hold": frozenset({"investigator", "manager"}),
    "evidence.release": frozenset({"manager"}),
    "evidence.export": frozenset({"investigator", "manager"}),
    "survey": frozenset({"technician"}),
    "provision": frozenset({"technician"}),
    # release to other agencies: a non-MOU agency's release also needs admin (gateway/sharing.py)
    "share.request": frozenset({"investigator", "manager"}),
    "share.approve": frozenset({"manager", "admin"}),
    "share.fulfil": frozenset({"investigator", "manager"}),
    "share.view": frozenset({"investigator", "manager", "admin", "auditor"}),
    "deployments.request": frozenset({"investigator", "manager", "technician"}),
    "deployments.approve": frozenset({"manager", "admin"}),
    "deployments.view": frozenset({"investigator", "manager", "admin", "auditor"}),
    "reports.publish": frozenset({"manager", "admin", "auditor"}),
}

# Whoever may do one of these must log in with a second factor.
SECOND_FACTOR_ACTIONS = frozenset(
    {HISTORY, "reads.export", "users.manage", "settings.edit", "audit.export"}
)


class AccessDenied(PermissionError):
    """The user may not do this now; the message says why."""


class NotPermitted(AccessDenied):
    """None of the user's roles allows the action."""


class AccountDisabled(AccessDenied):
    """An admin disabled the account."""


class TrainingExpired(AccessDenied):
    """No access without current training."""


@dataclass(frozen=True)
class Principal:
    """Someone acting now: a logged-in user, or an integration through an API token."""

    name: str
    roles: frozenset[str]
    enabled: bool = True
    training_expires: str | None = None  # ISO date, last valid day
    sites: frozenset[str] = frozenset()
    via: str = "login"


def check_roles(roles: Iterable[str]) -> frozenset[str]:
    out = frozenset(r.strip() for r in roles if r.strip())
    unknown = sorted(out - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}: one of {', '.join(ROLES)}")
    if not out:
        raise ValueError("at least one role is needed")
    return out


def permissions(history_role: str = DEFAULT_HISTORY_ROLE) -> dict[str, frozenset[str]]:
    """The table, with historical search given to the configured role."""
    check_roles([history_role])
    table = dict(PERMISSIONS)
    table[HISTORY] = frozenset({history_role})
    return table


def second_factor_roles(history_role: str = DEFAULT_HISTORY_ROLE) -> frozenset[str]:
    table = permissions(history_role)
    return frozenset().union(*(table[a] for a in SECOND_FACTOR_ACTIONS))


def training_current(expires: str | None, today: dt.date | None = None) -> bool:
    if not expires:
        return False
    return dt.date.fromisoformat(expires) >= (today or dt.datetime.now(dt.UTC).date())


def check_standing(user: Principal, today: dt.date | None = None) -> None:
    """The account is enabled and its training current: needed for anything at all."""
    if not user.enabled:
        raise AccountDisabled(f"{user.name}: the account is disabled")
    if not training_current(user.training_expires, today):
        when = user.training_expires or "never recorded"
        raise TrainingExpired(f"{user.name}: training is not current (expires: {when})")


def require(
    user: Principal,
    action: str,
    history_role: str = DEFAULT_HISTORY_ROLE,
    today: dt.date | None = None,
) -> None:
    """Raise a named AccessDenied unless this user may do this action now."""
    table = permissions(history_role)
    if action not in table:
        raise KeyError(f"unknown action {action!r}")
    check_standing(user, today)
    if not user.roles & table[action]:
        need = ", ".join(sorted(table[action]))
        have = ", ".join(sorted(user.roles)) or "none"
        raise NotPermitted(f"{user.name} ({have}) may not {action}: needs {need}")


@dataclass(frozen=True)
class ReadScope:
    """Which reads a user may see: since None and sites None mean all of them."""

    since: float | None
    sites: frozenset[str] | None


def read_scope(user: Principal, now: float, history_role: str = DEFAULT_HISTORY_ROLE) -> ReadScope:
    """Historical search for the history role; the last 24 h at their own sites for the others."""
    try:
        require(user, HISTORY, history_role)
        return ReadScope(None, None)
    except NotPermitted:
        require(user, "reads.recent", history_role)
    return ReadScope(now - RECENT_HOURS * 3600, user.sites)
