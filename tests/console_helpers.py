"""A gateway with its console on loopback, the users who log in to it, and a small HTTP client that
keeps cookies and does not follow redirects (so the tests see each answer as the browser would)."""

from __future__ import annotations

import datetime as dt
import http.client
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyotp
from access_helpers import CHEAP_HASHER, PASSWORD, day
from gateway_helpers import write_config

from gateway import review
from gateway.access import settings, users
from gateway.access.db import AccessDB
from gateway.config import load
from gateway.service import Gateway

PLATE = "KXR482"
SPARE = "ZZY909"  # listed, never captured
FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
HOTLIST = (
    "plate,state,category,case_number,reason,requested_by,contact,instructions,expires\n"
    f"{PLATE},IL,stolen-vehicle,26-000123,stolen from driveway,Det. Ray #12,"
    f"dispatch 555-0100,do not approach; call dispatch,{FUTURE}\n"
    f"{SPARE},IL,stolen-plate,26-000124,plates taken,Det. Ray #12,dispatch 555-0100,"
    f"verify then call dispatch,{FUTURE}\n"
)
# one agency with a memorandum of understanding on file, one without
MOU_AGENCY, NO_MOU_AGENCY = "County Sheriff", "Lakeside PD"
SHARING = f"""
[[sharing.agencies]]
name = "{MOU_AGENCY}"
mou_signed = 2025-03-01

[[sharing.agencies]]
name = "{NO_MOU_AGENCY}"
"""
# name -> roles; the officer and the technician log in with a password alone
USERS = {
    "ofc": ["officer"],
    "inv": ["investigator"],
    "mgr": ["manager"],
    "aud": ["auditor"],
    "tech": ["technician"],
}


@dataclass
class Console:
    gateway: Gateway
    url: str
    camera_url: str
    secrets: dict[str, str | None]  # TOTP secrets by user
    tmp: Path

    def code(self, name: str) -> str:
        secret = self.secrets[name]
        assert secret is not None
        # a code is accepted once: wait for the next step if this one was used
        return pyotp.TOTP(secret).now()


@contextmanager
def running_console(tmp: Path, extra: str = "") -> Iterator[Console]:
    """A gateway with one hot-list entry (PLATE) and the console on a free port, and the users."""
    (tmp / "hot.csv").write_text(HOTLIST)
    config_path = write_config(
        tmp,
        extra='[[hotlists]]\nsource = "local"\npath = "hot.csv"\n\n'
        '[console]\nlisten = "127.0.0.1:0"\n' + extra + SHARING,
    )
    config = load(config_path)
    db = AccessDB(config.data_dir)
    s = settings.load(db)
    saved = users.HASHER
    users.HASHER = CHEAP_HASHER
    found: dict[str, str | None] = {}
    try:
        for name, roles in USERS.items():
            _, secret = users.add(db, name, PASSWORD, roles, "boss", "test", s, ["s1"])
            users.train(db, name, day(-30), day(200), "boss", "test", s)
            found[name] = secret
        gateway = Gateway(config)
        gateway.start()
        assert gateway.console is not None
        review.approve_source(
            gateway.store, "local", "mgr"
        )  # an imported list matches once approved
        try:
            yield Console(gateway, gateway.console.url, gateway.url, found, tmp)
        finally:
            gateway.shutdown()
    finally:
        users.HASHER = saved


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


@dataclass
class Browserless:
    """Cookies in, cookies out; no redirects followed."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def request(
        self, method: str, path: str, form: dict[str, Any] | None = None, **headers: str
    ) -> Answer:
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        body = urlencode(form).encode() if form is not None else None
        sent = dict(headers)
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        self.set_cookies = resp.headers.get_all("set-cookie") or []
        for line in self.set_cookies:
            jar = SimpleCookie()
            jar.load(line)
            for key, morsel in jar.items():
                if morsel["max-age"] == "0" or "expires=Thu, 01 Jan 1970" in line:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = morsel.value
        return Answer(resp.status, resp.headers, text)

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, **headers)

    def post(self, path: str, form: dict[str, Any], **headers: str) -> Answer:
        return self.request("POST", path, form, **headers)

    def login(self, name: str, code: str | None = None, password: str = PASSWORD) -> Answer:
        page = self.get("/login")
        token = csrf_of(page.body)
        return self.post(
            "/login",
            {"username": name, "password": password, "code": code or "", "csrf": token},
        )

    def csrf(self, path: str = "/alerts") -> str:
        return csrf_of(self.get(path).body)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def wait_for(predicate: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
