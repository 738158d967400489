"""Users, roles and sessions: the permission table, lockout, the second factor, training."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher

from gateway.access import audit, sessions, users
from gateway.access.db import AccessDB
from gateway.access.roles import (
    AccountDisabled,
    NotPermitted,
    Principal,
    TrainingExpired,
    read_scope,
    require,
    second_factor_roles,
)
from gateway.access.settings import AccessSettings

PASSWORD = "correct horse battery"
S = AccessSettings()


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2 with a small cost: the parameters travel in each hash, so checks are the same."""
    monkeypatch.setattr(
        users, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def today_plus(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


def make(db: AccessDB, name: str, role: str, expires: int = 100) -> tuple[users.User, str | None]:
    _, secret = users.add(db, name, PASSWORD, [role], "boss", "test", S, ["s1"])
    users.train(db, name, today_plus(-10), today_plus(expires), "boss", "test", S)
    return users.get(db, name), secret


def who(role: str, expires: int = 100, enabled: bool = True) -> Principal:
    return Principal("u", frozenset({role}), enabled, today_plus(expires), frozenset({"s1"}))


def test_require_uses_the_one_table_and_names_the_refusal() -> None:
    require(who("investigator"), "reads.history")
    with pytest.raises(NotPermitted, match=r"officer.*may not reads\.history: needs investigator"):
        require(who("officer"), "reads.history")
    # the history role is a setting: give it to managers and investigators lose it
    require(who("manager"), "reads.history", history_role="manager")
    with pytest.raises(NotPermitted):
        require(who("investigator"), "reads.history", history_role="manager")
    with pytest.raises(TrainingExpired):
        require(who("investigator", expires=-1), "reads.history")
    with pytest.raises(AccountDisabled):
        require(who("investigator", enabled=False), "reads.history")
    with pytest.raises(KeyError):
        require(who("admin"), "no.such.action")
    assert second_factor_roles() == {"admin", "manager", "investigator", "auditor"}
    assert "officer" in second_factor_roles(history_role="officer")


def test_officer_sees_the_last_day_at_own_sites_only() -> None:
    now = time.time()
    assert read_scope(who("investigator"), now) == read_scope(who("investigator"), now + 5)
    scope = read_scope(who("officer"), now)
    assert scope.since == now - 24 * 3600 and scope.sites == {"s1"}
    with pytest.raises(NotPermitted):
        read_scope(who("technician"), now)


def test_lockout_after_repeated_failures_is_logged(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    make(db, "ofc", "officer")
    now = time.time()
    for i in range(S.max_failures):
        with pytest.raises(users.LoginFailed):
            sessions.login(db, "ofc", "wrong password!", None, "test", S, now + i)
    # locked: even the right password is refused until the period ends
    with pytest.raises(users.AccountLocked, match="locked until"):
        sessions.login(db, "ofc", PASSWORD, None, "test", S, now + 10)
    later = now + S.lock_minutes * 60 + 11
    token, user = sessions.login(db, "ofc", PASSWORD, None, "test", S, later)
    assert user.name == "ofc" and sessions.principal(db, token, later).name == "ofc"
    actions = [r["action"] for r in audit.records(db, user="ofc")]
    assert actions.count("login failed") == S.max_failures + 1
    assert "account locked" in actions and actions[-1] == "login"


def test_unknown_user_and_wrong_password_look_alike(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    make(db, "ofc", "officer")
    with pytest.raises(users.LoginFailed) as a:
        sessions.login(db, "nobody", PASSWORD, None, "test", S)
    with pytest.raises(users.LoginFailed) as b:
        sessions.login(db, "ofc", "not the password", None, "test", S)
    assert str(a.value) == str(b.value)


def test_investigator_needs_a_totp_code_used_once(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    _, secret = make(db, "inv", "investigator")
    assert secret
    now = time.time()
    with pytest.raises(users.SecondFactorRequired):
        sessions.login(db, "inv", PASSWORD, None, "test", S, now)
    code = pyotp.TOTP(secret).at(now)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(users.LoginFailed):
        sessions.login(db, "inv", PASSWORD, wrong, "test", S, now)
    token, _ = sessions.login(db, "inv", PASSWORD, code, "test", S, now)
    assert sessions.principal(db, token, now).roles == {"investigator"}
    with pytest.raises(users.LoginFailed):  # the same code again: a replay
        sessions.login(db, "inv", PASSWORD, code, "test", S, now + 1)
    # an officer has no second factor and needs none
    _, none = make(db, "ofc", "officer")
    assert none is None
    sessions.login(db, "ofc", PASSWORD, None, "test", S, now)


def test_training_gates_login_and_sessions(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    make(db, "ofc", "officer", expires=20)
    now = time.time()
    token, user = sessions.login(db, "ofc", PASSWORD, None, "test", S, now)
    today = dt.datetime.now(dt.UTC).date()
    assert "20 days" in users.training_warning(user, S, today)
    assert users.training_warning(user, S, today - dt.timedelta(days=30)) == ""
    # the training lapses: the live session stops working, and so does a new login
    users.train(db, "ofc", today_plus(-400), today_plus(-1), "boss", "test", S)
    with pytest.raises(TrainingExpired):
        sessions.principal(db, token, now)
    with pytest.raises(TrainingExpired):
        sessions.login(db, "ofc", PASSWORD, None, "test", S, now)
    assert [r["why"] for r in audit.records(db, user="ofc")][-1] == ""
    assert '"training"' in [r["what"] for r in audit.records(db, user="ofc")][-1]


def test_sessions_expire_end_and_die_with_the_account(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    make(db, "ofc", "officer")
    now = time.time()
    token, _ = sessions.login(db, "ofc", PASSWORD, None, "test", S, now)
    stored = db.connect().execute("SELECT token_sha256 FROM sessions").fetchone()[0]
    assert token not in stored and stored == sessions.token_hash(token)
    with pytest.raises(sessions.InvalidToken, match="expired"):
        sessions.principal(db, token, now + S.session_hours * 3600 + 1)
    users.set_enabled(db, "ofc", False, "boss", "test")
    with pytest.raises(sessions.InvalidToken, match="ended"):
        sessions.principal(db, token, now)
    with pytest.raises(sessions.InvalidToken, match="unknown"):
        sessions.principal(db, token + "x", now)


def test_api_token_carries_only_the_roles_given(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    users.add(db, "cad", PASSWORD, ["officer", "technician"], "boss", "test", S)
    users.train(db, "cad", today_plus(-1), today_plus(100), "boss", "test", S)
    token = sessions.api_token(db, "cad", ["officer"], 30, "boss", "test")
    p = sessions.principal(db, token)
    assert p.roles == {"officer"} and p.via == "api"
    with pytest.raises(NotPermitted):
        require(p, "cameras.manage")
    with pytest.raises(users.UserError, match="does not have the role"):
        sessions.api_token(db, "cad", ["admin"], 30, "boss", "test")


def test_bad_input_is_named(tmp_path: Path) -> None:
    db = AccessDB(tmp_path)
    with pytest.raises(users.UserError, match="at least 12"):
        users.add(db, "a", "short", ["officer"], "boss", "test", S)
    with pytest.raises(users.UserError, match="unknown role 'chief'"):
        users.add(db, "a", PASSWORD, ["chief"], "boss", "test", S)
    users.add(db, "a", PASSWORD, ["officer"], "boss", "test", S)
    with pytest.raises(users.UserError, match="exists already"):
        users.add(db, "a", PASSWORD, ["officer"], "boss", "test", S)
    with pytest.raises(users.UserError, match="expected a date"):
        users.train(db, "a", "yesterday", None, "boss", "test", S)
    with pytest.raises(users.UserError, match="no user 'b'"):
        users.set_enabled(db, "b", False, "boss", "test")
