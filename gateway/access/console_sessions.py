"""Console sessions in the access database, so that a restarted gateway keeps everyone logged in.

A row holds the SHA-256 of the login token (never the token), its user, when it started, when it
was last used and when the login expires. A session unused for the idle time is gone: the row is
deleted when it is next presented, and every login purges the idle and expired rows of others.
The CSRF token is derived from the session token (HMAC), so it needs no column and survives a
restart with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
import time
from dataclasses import dataclass

from gateway.access.db import AccessDB
from gateway.access.sessions import token_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS console_sessions (
    token_sha256 TEXT PRIMARY KEY,    -- the login token's SHA-256; the token is never stored
    user TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL,
    expires REAL NOT NULL             -- the login token's expiry
);
CREATE INDEX IF NOT EXISTS console_sessions_last_seen ON console_sessions (last_seen);
"""
CSRF_LABEL = b"alpr console csrf"
TOUCH_S = 30.0  # last_seen is written at most this often (less for short idle times): one synced
# write per page view was the cost before; a session may so end up to this much before its idle time


def csrf_of(token: str) -> str:
    """The session's CSRF token: an HMAC of the session token, unlike its stored SHA-256."""
    return hmac.new(token.encode(), CSRF_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Live:
    csrf: str
    last_seen: float
    name: str


class ConsoleSessions:
    """The idle clock of each console login, by token hash, in `console_sessions`."""

    def __init__(self, db: AccessDB, idle_s: float) -> None:
        self.db = db
        self.idle_s = idle_s
        self._ready = threading.Event()

    def conn(self) -> sqlite3.Connection:
        conn = self.db.connect()
        if not self._ready.is_set():
            conn.executescript(SCHEMA)
            self._ready.set()
        return conn

    def start(self, token: str, name: str, now: float | None = None) -> Live:
        """A console session for a login token of gateway/access/sessions.py, which it expires
        with (the idle and expired sessions of others are purged first)."""
        now = time.time() if now is None else now
        self.purge(now)
        key = token_hash(token)
        conn = self.conn()
        login = conn.execute("SELECT expires FROM sessions WHERE token_sha256=?", (key,)).fetchone()
        if login is None:
            raise ValueError("a console session needs a login token of gateway/access")
        conn.execute(
            "INSERT OR REPLACE INTO console_sessions (token_sha256, user, created, last_seen,"
            " expires) VALUES (?,?,?,?,?)",
            (key, name, now, now, float(login["expires"])),
        )
        return Live(csrf_of(token), now, name)

    def touch(self, token: str, now: float) -> Live | None:
        """The session if it was used within the idle time (and now again), else None; an idle
        or expired row is deleted."""
        key = token_hash(token)
        conn = self.conn()
        row = conn.execute(
            "SELECT user, last_seen, expires FROM console_sessions WHERE token_sha256=?", (key,)
        ).fetchone()
        if row is None:
            return None
        if now - row["last_seen"] > self.idle_s or row["expires"] <= now:
            conn.execute("DELETE FROM console_sessions WHERE token_sha256=?", (key,))
            return None
        last_seen = float(row["last_seen"])
        if now - last_seen >= min(TOUCH_S, self.idle_s / 10):
            conn.execute("UPDATE console_sessions SET last_seen=? WHERE token_sha256=?", (now, key))
            last_seen = now
        return Live(csrf_of(token), last_seen, str(row["user"]))

    def get(self, token: str) -> Live | None:
        row = (
            self.conn()
            .execute(
                "SELECT user, last_seen FROM console_sessions WHERE token_sha256=?",
                (token_hash(token),),
            )
            .fetchone()
        )
        return None if row is None else Live(csrf_of(token), float(row["last_seen"]), row["user"])

    def end(self, token: str) -> None:
        self.conn().execute(
            "DELETE FROM console_sessions WHERE token_sha256=?", (token_hash(token),)
        )

    def purge(self, now: float | None = None) -> int:
        """Delete the rows idle longer than the idle time or past their expiry; returns how many."""
        now = time.time() if now is None else now
        cur = self.conn().execute(
            "DELETE FROM console_sessions WHERE last_seen < ? OR expires <= ?",
            (now - self.idle_s, now),
        )
        return int(cur.rowcount)
