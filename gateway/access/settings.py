"""Access settings, kept in the access database and changed only by an admin (and audited)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gateway.access.db import AccessDB
from gateway.access.roles import DEFAULT_HISTORY_ROLE, check_roles


@dataclass(frozen=True)
class AccessSettings:
    history_role: str = DEFAULT_HISTORY_ROLE  # the one role that may search history
    session_hours: float = 8.0  # a login token lasts this long
    max_failures: int = 5  # wrong passwords in a row before the account locks
    lock_minutes: float = 15.0
    training_valid_days: int = 365  # when `users train` is not given an expiry
    training_warn_days: int = 30
    audit_retention_days: int = 1095  # three years

    def validated(self) -> AccessSettings:
        check_roles([self.history_role])
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"{f.name}: must be positive, got {value}")
        return self


def _kind(name: str) -> type:
    return type(getattr(AccessSettings(), name))


def load(db: AccessDB) -> AccessSettings:
    rows = db.connect().execute("SELECT key, value FROM settings").fetchall()
    stored = {r["key"]: r["value"] for r in rows}
    values: dict[str, object] = {}
    for f in dataclasses.fields(AccessSettings):
        if f.name in stored:
            values[f.name] = _kind(f.name)(stored[f.name])
    return AccessSettings(**values).validated()  # type: ignore[arg-type]


def update(db: AccessDB, changes: dict[str, str]) -> AccessSettings:
    """Apply text values by name; raise ValueError naming a bad key or value, changing nothing."""
    current = load(db)
    names = {f.name: f for f in dataclasses.fields(AccessSettings)}
    values: dict[str, object] = {}
    for key, text in changes.items():
        if key not in names:
            raise ValueError(f"unknown setting {key!r}: one of {', '.join(names)}")
        kind = _kind(key)
        try:
            values[key] = kind(text)
        except ValueError:
            raise ValueError(f"{key}: expected {kind.__name__}, got {text!r}") from None
    new = dataclasses.replace(current, **values).validated()  # type: ignore[arg-type]
    db.connect().executemany(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        [(k, str(getattr(new, k))) for k in values],
    )
    return new
