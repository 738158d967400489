"""The console in a real browser: Debian's chromium, headless, driven by Playwright.

One gateway and one browser for the module; each test has its own browser context (cookies) and
saves a screenshot under build/screenshots/. Without chromium the tests are skipped, unless
CHROMIUM_REQUIRED=1 (as in CI), where its absence fails them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from access_helpers import PASSWORD
from console_helpers import MOU_AGENCY, NO_MOU_AGENCY, PLATE, Console, running_console, wait_for
from gateway_helpers import SECRET, scene_jpeg

from tools.field.camera_sim import CameraClient

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
PHONE = {"width": 390, "height": 844}
ALERT_WAIT_MS = 2000  # a committed hit must be on the page within this


def missing() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install '.[dev]')"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "chromium is not installed (apt-get install chromium, or `make test`)"
    return ""


WHY = missing()
if WHY:
    if os.environ.get("CHROMIUM_REQUIRED") == "1":
        raise RuntimeError(f"CHROMIUM_REQUIRED=1 but {WHY}")
    pytest.skip(f"browser tests skipped: {WHY}", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("browser")) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (no cookies), at phone width for the tests that ask for it."""
    phone = "phone" in request.node.name
    context = browser.new_context(viewport=PHONE if phone else {"width": 1200, "height": 900})
    pg = context.new_page()
    yield pg
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def log_in(page: Page, console: Console, name: str, code: str | None = None) -> None:
    page.goto(console.url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    if code is not None:
        page.fill("input[name=code]", code)
    page.click("button[type=submit]")


SEQUENCE = [100]


def post_listed_capture(console: Console) -> int:
    """A simulated camera posts a capture of the listed plate; returns the hit once committed."""
    store = console.gateway.store
    before = int(store.connect().execute("SELECT coalesce(max(id), 0) FROM hits").fetchone()[0])
    SEQUENCE[0] += 1
    camera = CameraClient(console.camera_url, "cam-01", SECRET.encode())
    assert camera.send_event(SEQUENCE[0], [scene_jpeg(PLATE, seed=1)])[0] == 201
    camera.close()

    def newest() -> int:
        row = store.connect().execute("SELECT coalesce(max(id), 0) FROM hits").fetchone()
        return int(row[0])

    assert wait_for(lambda: newest() > before, 90), "the reader made no hit"
    return newest()


def image_loaded(page: Page, selector: str) -> Any:
    return page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0 }",
        arg=selector,
        timeout=10_000,
    )


def test_log_in_with_totp(page: Page, console: Console) -> None:
    log_in(page, console, "inv")
    assert "TOTP code is needed" in page.inner_text("#why")
    log_in(page, console, "inv", console.code("inv"))
    page.wait_for_url("**/alerts")
    assert page.inner_text(".who") == "inv"
    assert "Search" in page.inner_text("nav")


def test_live_alert_on_a_phone(page: Page, console: Console) -> None:
    log_in(page, console, "ofc")
    page.wait_for_url("**/alerts")
    page.wait_for_load_state("networkidle")
    hit = post_listed_capture(console)
    committed = time.monotonic()
    card = f"#hit-{hit}"
    page.wait_for_selector(card, timeout=ALERT_WAIT_MS)
    print(f"alert on the page {1000 * (time.monotonic() - committed):.0f} ms after the commit")
    image_loaded(page, f"{card} img.frame")
    image_loaded(page, f"{card} img.crop")
    assert PLATE in page.inner_text(f"{card} .plate")
    assert "stolen-vehicle" in page.inner_text(card)
    assert "do not approach" in page.inner_text(f"{card} .instructions")
    reminder = page.locator(".reminder")
    assert "not grounds for a stop" in reminder.inner_text()
    assert reminder.bounding_box()["y"] < page.locator(card).bounding_box()["y"]  # type: ignore[index]
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    assert page.evaluate(overflow) <= 0, "the page scrolls sideways at phone width"
    page.click("#mute")
    assert page.evaluate("localStorage.getItem('alpr.chime.muted')") == "1"
    assert page.inner_text("#mute") == "Unmute chime"


def test_verification_and_disposition(page: Page, console: Console) -> None:
    hit = post_listed_capture(console)
    log_in(page, console, "ofc")
    page.wait_for_url("**/alerts")
    page.click(f"#hit-{hit} a.plate")
    page.wait_for_url(f"**/hits/{hit}")
    image_loaded(page, "img.frame")
    page.select_option("select[name=status]", "confirmed")
    page.fill("textarea[name=note]", "driver detained, vehicle recovered")
    page.click("#disposition button[type=submit]")  # no check recorded yet: refused
    assert "no verification record" in page.inner_text("#error")
    page.fill("#verify input[name=system]", "NCIC")
    page.select_option("#verify select[name=result]", "confirmed")
    page.fill("#verify input[name=note]", f"{PLATE} IL stolen, current")
    page.click("#verify button[type=submit]")
    assert "verification: confirmed in NCIC" in page.inner_text("#history")
    page.select_option("select[name=status]", "confirmed")
    page.fill("textarea[name=note]", "driver detained, vehicle recovered")
    page.click("#disposition button[type=submit]")
    assert "Closed: confirmed" in page.inner_text("#closed")
    row = (
        console.gateway.store.connect()
        .execute("SELECT disposition, disposition_note FROM hits WHERE id=?", (hit,))
        .fetchone()
    )
    assert row[0] == "confirmed" and "recovered" in row[1]


def test_search_refused_without_reason_then_done(page: Page, console: Console) -> None:
    post_listed_capture(console)
    log_in(page, console, "ofc")
    page.goto(console.url + "/search")
    page.select_option("select[name=purpose]", "stolen vehicle")
    page.fill("input[name=plate]", PLATE)
    page.fill("input[name=reason]", "looking")
    page.click("#search button[type=submit]")
    assert "at least 20 characters" in page.inner_text("#error")
    page.fill("input[name=case]", "26-000123")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#results")
    assert "read" in page.inner_text("#results h2")
    image_loaded(page, "#results img.crop")
    assert page.locator("#results svg.map").count() == 1
    assert page.locator("#results svg.timeline").count() == 1


def week_of_heartbeats(console: Console, camera: str, until_h_ago: float) -> None:
    """Heartbeats every 3 h for the past week up to `until_h_ago`: a battery charged by day."""
    now = time.time()
    rows = []
    for i in range(56):
        at = now - 7 * 86400 + i * 3 * 3600
        if at > now - until_h_ago * 3600:
            break
        hour = (at // 3600) % 24
        sun = max(0.0, math.sin(math.pi * (hour - 6) / 12))
        body = {"battery_v": round(3.7 + 0.3 * sun, 2), "solar_v": round(6 * sun, 2), "queued": 0}
        rows.append((camera, at, json.dumps(body)))
    console.gateway.store.connect().executemany(
        "INSERT INTO heartbeats (camera, received, body) VALUES (?,?,?)", rows
    )


def test_silent_camera_flagged(page: Page, console: Console) -> None:
    week_of_heartbeats(console, "cam-01", 0)
    week_of_heartbeats(console, "cam-02", 5)  # gone silent five hours ago
    camera = CameraClient(console.camera_url, "cam-01", SECRET.encode())
    assert camera.send_heartbeat({"battery_v": 3.9, "solar_v": 5.1, "queued": 0})[0] == 200
    camera.close()
    log_in(page, console, "tech")
    page.goto(console.url + "/cameras")
    assert "silent" in page.inner_text("#camera-cam-02 .flags")
    assert "silent" not in page.inner_text("#camera-cam-01 .flags")
    assert page.locator("#camera-cam-01 svg.spark polyline").count() == 2  # battery and solar


def test_officer_cannot_open_audit(page: Page, console: Console) -> None:
    log_in(page, console, "ofc")
    page.wait_for_url("**/alerts")
    assert "Audit" not in page.inner_text("nav")
    page.goto(console.url + "/audit")
    assert "may not audit.read" in page.inner_text("#refused")


def test_manager_approves_a_share_on_a_phone(page: Page, console: Console) -> None:
    from gateway.sharing import requests

    db = console.gateway.console.app.state.access  # type: ignore[union-attr]
    ids = [
        requests.create(
            db,
            requests.Request(agency, "Sgt. Lee", "555-0199", "stolen vehicle", case,
                             requests.Query((PLATE,))),
            "inv",
            "test",
        )
        for agency, case in ((MOU_AGENCY, "SO-26-41"), (NO_MOU_AGENCY, "LPD-26-42"))
    ]  # fmt: skip
    log_in(page, console, "mgr", console.code("mgr"))
    page.wait_for_url("**/alerts")
    page.click("nav >> text=Sharing")
    page.wait_for_url("**/sharing")
    card = f"#share-{ids[0]}"
    assert "MOU 2025-03-01" in page.inner_text(card)
    assert "the chief decides" in page.inner_text(f"#share-{ids[1]}")
    page.fill(f"{card} input[name=verified_by]", "call-back to the sheriff's dispatch")
    page.click(f"{card} form.approve button[type=submit]")
    assert f"share {ids[0]} approved by mgr" in page.inner_text("#message")
    assert page.inner_text(f"#decided #share-{ids[0]} .status") == "approved"
    assert requests.get(db, ids[0])["status"] == "approved"
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    assert page.evaluate(overflow) <= 0, "the page scrolls sideways at phone width"
