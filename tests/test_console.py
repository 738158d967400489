"""The console over real HTTP on loopback: its own listener, cookies, CSRF, the security headers,
roles through gateway/access, the audit log, and the rules for closing a hit and searching."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_helpers import (
    MOU_AGENCY,
    NO_MOU_AGENCY,
    PLATE,
    SPARE,
    Browserless,
    Console,
    csrf_of,
    running_console,
    wait_for,
)
from gateway_helpers import SECRET, scene_jpeg

from gateway import hit_events
from gateway.access import audit
from gateway.access.sessions import token_hash
from gateway.web.console.session import COOKIE
from tools.field.camera_sim import CameraClient


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One gateway for the module, with one hit on PLATE already read."""
    with running_console(tmp_path_factory.mktemp("console")) as c:
        camera = CameraClient(c.camera_url, "cam-01", SECRET.encode())
        assert camera.send_event(1, [scene_jpeg(PLATE, seed=1)])[0] == 201
        camera.close()
        store = c.gateway.store
        assert wait_for(lambda: store.connect().execute("SELECT count(*) FROM hits").fetchone()[0])
        yield c


def hit_id(console: Console) -> int:
    return int(console.gateway.store.connect().execute("SELECT min(id) FROM hits").fetchone()[0])


KEPT: dict[str, Browserless] = {}


def kept(console: Console, name: str) -> Browserless:
    """One login per user with a second factor for the module: a TOTP code works only once."""
    if name not in KEPT:
        KEPT[name] = logged_in(console, name)
    return KEPT[name]


def logged_in(console: Console, name: str) -> Browserless:
    client = Browserless(console.url)
    code = console.code(name) if console.secrets[name] else None
    answer = client.login(name, code)
    assert answer.status == 303, answer.body
    return client


def make_idle(console: Console, client: Browserless) -> None:
    """Move the session's last use back past the idle time, in the access database."""
    sessions = console.gateway.console.app.state.sessions  # type: ignore[union-attr]
    sessions.conn().execute(
        "UPDATE console_sessions SET last_seen = last_seen - ? WHERE token_sha256=?",
        (sessions.idle_s + 1, token_hash(client.cookies[COOKIE])),
    )


def records(console: Console, user: str) -> list[dict[str, object]]:
    return list(audit.records(console.gateway.console.app.state.access, user=user))  # type: ignore[union-attr]


def test_console_and_camera_listeners_serve_apart(console: Console) -> None:
    on_camera = Browserless(console.camera_url)
    for path in ("/login", "/alerts", "/static/htmx.min.js", "/api/hits"):
        assert on_camera.get(path).status == 404, path
    on_console = Browserless(console.url)
    assert on_console.get("/v1/health").status == 404
    assert on_console.get("/login").status == 200


def test_session_cookie_and_security_headers(console: Console) -> None:
    client = Browserless(console.url)
    answer = client.login("ofc")
    cookie = next(c for c in client.set_cookies if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain HTTP on loopback here; see the TLS test
    page = client.get(answer.header("location"))
    assert page.status == 200
    csp = page.header("content-security-policy")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.header("x-frame-options") == "DENY"
    assert "<script>" not in page.body  # no inline scripts: only files from /static


def test_totp_needed_for_roles_that_search_history(console: Console) -> None:
    client = Browserless(console.url)
    refused = client.login("inv")
    assert refused.status == 401 and "TOTP code is needed" in refused.body
    assert COOKIE not in client.cookies
    assert client.login("inv", console.code("inv")).status == 303
    assert client.get("/search").status == 200
    KEPT["inv"] = client  # its code is spent: later tests go on with this session


def test_not_logged_in_goes_to_the_login_page(console: Console) -> None:
    client = Browserless(console.url)
    answer = client.get("/alerts")
    assert answer.status == 303 and answer.header("location").startswith("/login")
    assert client.get("/api/hits").status == 401


def test_idle_session_ends(console: Console) -> None:
    client = logged_in(console, "ofc")
    assert client.get("/alerts").status == 200
    make_idle(console, client)
    answer = client.get("/alerts")
    assert answer.status == 303 and "idle" in answer.header("location")
    assert client.get("/alerts").status == 303  # and the token is revoked for good


def test_post_without_csrf_token_is_refused(console: Console) -> None:
    client = logged_in(console, "ofc")
    hit = hit_id(console)
    form = {"system": "NCIC", "result": "confirmed", "note": "stolen, current"}
    assert client.post(f"/hits/{hit}/verify", form).status == 403
    assert client.post(f"/hits/{hit}/verify", {**form, "csrf": "forged"}).status == 403
    assert hit_events.verification(console.gateway.store, hit) is None


def test_officer_cannot_open_the_audit_pages(console: Console) -> None:
    client = logged_in(console, "ofc")
    answer = client.get("/audit")
    assert answer.status == 403 and "may not audit.read" in answer.body
    denied = [r for r in records(console, "ofc") if r["kind"] == "denied"]
    assert denied and "audit.read" in str(denied[-1]["what"])
    assert kept(console, "aud").get("/audit").status == 200


def test_hit_needs_verification_before_it_closes(console: Console) -> None:
    client = logged_in(console, "ofc")
    hit = hit_id(console)
    page = client.get(f"/hits/{hit}")
    assert page.status == 200 and PLATE in page.body and 'id="needs-check"' in page.body
    token = csrf_of(page.body)
    close = {"csrf": token, "status": "confirmed", "note": "driver detained"}
    answer = client.post(f"/hits/{hit}/disposition", close)
    assert answer.status == 400 and "no verification record" in answer.body
    store = console.gateway.store
    assert store.connect().execute("SELECT disposition FROM hits").fetchone()[0] is None
    check = {"csrf": token, "system": "", "result": "confirmed", "note": ""}
    answer = client.post(f"/hits/{hit}/verify", check)
    assert answer.status == 400 and "name the system checked" in answer.body
    check = {**check, "system": "NCIC", "note": "IL KXR482 stolen, current"}
    assert client.post(f"/hits/{hit}/verify", check).status == 200
    done = client.post(f"/hits/{hit}/disposition", close)
    assert done.status == 200 and "Closed: confirmed" in done.body
    row = store.connect().execute("SELECT * FROM hits WHERE id=?", (hit,)).fetchone()
    assert row["disposition"] == "confirmed" and row["disposition_user"] == "ofc"
    kinds = [e["kind"] for e in hit_events.history(store, hit)]
    assert kinds == ["verification", "disposition"]
    actions = [r["action"] for r in records(console, "ofc")]
    assert actions.index("hits verify") < actions.index("hits disposition")


def test_search_needs_purpose_and_case_or_reason(console: Console) -> None:
    client = logged_in(console, "ofc")
    token = client.csrf("/search")
    form = {"csrf": token, "purpose": "stolen vehicle", "plate": PLATE, "reason": "too short"}
    answer = client.post("/search", form)
    assert answer.status == 400 and "at least 20 characters" in answer.body
    assert not [r for r in records(console, "ofc") if r["kind"] == "inquiry"]
    answer = client.post("/search", {**form, "case": "26-000123"})
    assert answer.status == 200 and "/reads/" in answer.body and PLATE in answer.body
    inquiries = [r for r in records(console, "ofc") if r["kind"] == "inquiry"]
    assert inquiries[-1]["why"] == "stolen vehicle; case 26-000123"
    assert inquiries[-1]["result_count"] == 1
    assert PLATE not in str(inquiries[-1]["what"])  # the plate is in the access log only


def test_frame_image_needs_a_session_and_is_a_jpeg(console: Console) -> None:
    read = console.gateway.store.connect().execute("SELECT read_id FROM hits").fetchone()[0]
    assert Browserless(console.url).get(f"/reads/{read}/frame.jpg").status == 303
    client = logged_in(console, "ofc")
    for kind in ("frame", "crop"):
        answer = client.get(f"/reads/{read}/{kind}.jpg")
        assert answer.status == 200 and answer.header("content-type") == "image/jpeg"


def test_chime_is_the_generated_one() -> None:
    from tools.chime import PATH, chime

    assert PATH.read_bytes() == chime()


def test_console_over_tls_sets_secure_cookie(tmp_path: Path) -> None:
    import http.client
    import ssl

    from test_web_tls import self_signed

    cert, key = self_signed(tmp_path)
    extra = f'tls_cert = "{cert.name}"\ntls_key = "{key.name}"\n'
    with running_console(tmp_path, extra) as c:
        assert c.url.startswith("https://")
        host, port = c.gateway.console.address  # type: ignore[union-attr]
        context = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=10)
        conn.request("GET", "/login")
        page = conn.getresponse()
        body = page.read().decode()
        login_cookie = page.headers["set-cookie"]
        assert "Secure" in login_cookie
        form = (
            f"username=ofc&password=correct+horse+battery&csrf={csrf_of(body)}&code=&next=/alerts"
        )
        jar = login_cookie.split(";")[0]
        conn.request(
            "POST",
            "/login",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": jar},
        )
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 303
        cookie = next(v for k, v in answer.getheaders() if k == "set-cookie" and COOKIE in v)
        assert "Secure" in cookie and "HttpOnly" in cookie
        conn.close()


def test_demo_gateway_serves_the_console_to_its_demo_user(tmp_path: Path) -> None:
    from tools.demo import demo_login, hotlist_csv, running_gateway

    workdir = tmp_path / "demo"
    with running_gateway(workdir, hotlist_csv(["ABC123"])) as (gateway, _):
        assert gateway.console is not None
        who = demo_login(gateway.config, workdir)
        password = (workdir / "demo-password").read_text().strip()
        client = Browserless(gateway.console.url)
        assert client.login(who, password=password).status == 303
        assert client.get("/alerts").status == 200
        assert client.get("/cameras").status == 200  # the demo user is a technician too


def test_alert_stream_announces_a_new_hit(console: Console) -> None:
    """The server-sent events a browser listens to, read here without one."""
    import http.client
    import time

    client = logged_in(console, "ofc")
    store = console.gateway.store
    last = int(store.connect().execute("SELECT max(id) FROM hits").fetchone()[0])
    host, port = console.gateway.console.address  # type: ignore[union-attr]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    conn.request("GET", f"/api/alerts/stream?after={last}", headers={"Cookie": cookie})
    stream = conn.getresponse()
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    camera = CameraClient(console.camera_url, "cam-01", SECRET.encode())
    assert camera.send_event(50, [scene_jpeg(PLATE, seed=1)])[0] == 201
    camera.close()
    deadline = time.monotonic() + 60  # the reader's time; the stream's keepalives come every 15 s
    while (line := stream.readline()) != b"event: hit\n":
        assert line, "the stream ended"
        assert time.monotonic() < deadline, "no hit announced"
    arrived = time.monotonic()
    data = stream.readline().decode()
    conn.close()
    hit = int(data.removeprefix("data: "))
    assert hit > last
    row = store.connect().execute("SELECT created FROM hits WHERE id=?", (hit,)).fetchone()
    print(f"event {1000 * (time.time() - row[0]) - 1000 * (time.monotonic() - arrived):.0f} ms")


def test_audit_sample_finding_and_report(console: Console) -> None:
    officer = logged_in(console, "ofc")
    search = {"csrf": officer.csrf("/search"), "purpose": "stolen vehicle", "case": "26-7"}
    assert officer.post("/search", search).status == 200
    auditor = kept(console, "aud")
    token = auditor.csrf("/audit")
    today = dt.date.today()
    period = {"start": str(today - dt.timedelta(days=1)), "end": str(today + dt.timedelta(days=1))}
    drawn = auditor.post("/audit/sample", {"csrf": token, **period, "n": "5"})
    assert drawn.status == 200 and "drawn" in drawn.body
    item = re.search(r'action="/audit/items/(\d+)"', drawn.body)
    assert item, "no sampled inquiry to judge"
    form = {"csrf": token, "verdict": "proper", "note": "case 26-7 open"}
    assert auditor.post(f"/audit/items/{item.group(1)}", form).status == 200
    sample = re.search(r"/audit/report\?sample=(\d+)", drawn.body)
    assert sample
    report = auditor.get(f"/audit/report?sample={sample.group(1)}")
    assert report.status == 200 and "case 26-7 open" in report.body
    assert "script-src" not in report.header("content-security-policy")  # default-src 'none'
    actions = [r["action"] for r in records(console, "aud")]
    assert {"audit sample", "audit finding", "audit report", "audit log"} <= set(actions)


def test_manager_cancels_an_entry_and_holds_a_read(console: Console) -> None:
    manager = kept(console, "mgr")
    page = manager.get("/hotlists")
    assert page.status == 200 and SPARE in page.body
    entry = re.search(rf'id="entry-(\d+)">\s*<td class="plate">{SPARE}', page.body)
    assert entry
    token = csrf_of(page.body)
    refused = manager.post(f"/hotlists/{entry.group(1)}/cancel", {"csrf": token, "reason": ""})
    assert refused.status == 400 and "needs a reason" in refused.body
    done = manager.post(f"/hotlists/{entry.group(1)}/cancel", {"csrf": token, "reason": "found"})
    assert done.status == 200 and f"entry {entry.group(1)} cancelled" in done.body
    row = console.gateway.store.hotlist_entry(int(entry.group(1)))
    assert row is not None and row["cancelled_by"] == "mgr"
    read = console.gateway.store.connect().execute("SELECT read_id FROM hits").fetchone()[0]
    form = {"csrf": token, "case": "26-000123", "reason": "stolen car recovered"}
    held = manager.post(f"/reads/{read}/hold", form)
    assert held.status == 200 and "held under case 26-000123" in held.body, held.body[-600:]
    assert any(r["action"] == "evidence hold" for r in records(console, "mgr"))


def test_alert_stream_ends_with_the_session(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.client
    import time

    from gateway.web.console import alerts

    monkeypatch.setattr(alerts, "KEEPALIVE_S", 0.3)  # the session is checked at each keepalive
    client = logged_in(console, "ofc")
    host, port = console.gateway.console.address  # type: ignore[union-attr]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    conn.request("GET", "/api/alerts/stream?after=1000000", headers={"Cookie": cookie})
    stream = conn.getresponse()
    assert stream.readline() == b"retry: 2000\n"
    make_idle(console, client)
    deadline = time.monotonic() + 20
    while (line := stream.readline()) != b"event: logout\n":
        assert line and time.monotonic() < deadline, "the stream outlived its session"
    conn.close()


def test_no_longer_wanted_asks_about_the_entry(console: Console) -> None:
    store = console.gateway.store
    before = int(store.connect().execute("SELECT max(id) FROM hits").fetchone()[0])
    camera = CameraClient(console.camera_url, "cam-01", SECRET.encode())
    assert camera.send_event(70, [scene_jpeg(PLATE, seed=1)])[0] == 201
    camera.close()
    assert wait_for(
        lambda: store.connect().execute("SELECT max(id) FROM hits").fetchone()[0] > before, 90
    )
    hit = int(store.connect().execute("SELECT max(id) FROM hits").fetchone()[0])
    client = logged_in(console, "ofc")
    token = client.csrf(f"/hits/{hit}")
    check = {"csrf": token, "system": "NCIC", "result": "not-wanted", "note": "record cleared"}
    assert client.post(f"/hits/{hit}/verify", check).status == 200
    form = {"csrf": token, "status": "no-longer-wanted", "note": "owner recovered the car"}
    asked = client.post(f"/hits/{hit}/disposition", form)
    assert asked.status == 400 and "say whether to cancel or keep it" in asked.body
    refused = client.post(f"/hits/{hit}/disposition", {**form, "entry": "cancel"})
    assert refused.status == 403 and "may not hotlist.approve" in refused.body
    assert (
        store.connect().execute("SELECT disposition FROM hits WHERE id=?", (hit,)).fetchone()[0]
        is None
    )
    kept_entry = client.post(f"/hits/{hit}/disposition", {**form, "entry": "keep"})
    assert kept_entry.status == 200 and "Closed: no-longer-wanted" in kept_entry.body
    assert [dict(r)["plate"] for r in store.hotlist_rows(expired=False)].count(PLATE) == 1


def test_api_token_reads_the_json_api_without_cookies(console: Console) -> None:
    import json

    from gateway.access import sessions

    db = console.gateway.console.app.state.access  # type: ignore[union-attr]
    token = sessions.api_token(db, "ofc", ["officer"], 1, "boss", "test")
    client = Browserless(console.url)
    answer = client.get("/api/hits", Authorization=f"Bearer {token}")
    assert answer.status == 200
    assert all(h["text"] for h in json.loads(answer.body)["hits"])
    assert client.get("/api/cameras", Authorization=f"Bearer {token}").status == 403
    assert client.get("/api/hits", Authorization="Bearer alpr_not-a-token").status == 401


def test_manager_approves_and_rejects_requested_entries(console: Console) -> None:
    from gateway.hotlist import Entry

    store = console.gateway.store
    ids = [
        store.add_hotlist_entry(
            Entry(plate, "IL", "manual", "stolen-vehicle", case, "reported stolen", "Det. Ray",
                  "dispatch", "verify first", dt.date.today() + dt.timedelta(days=9)),
            "inv",
        )
        for plate, case in (("APR111", "26-900"), ("REJ222", "26-901"))
    ]  # fmt: skip
    officer = logged_in(console, "ofc")
    page = officer.get("/hotlists")
    assert page.status == 200 and "APR111" in page.body and "Approve</button>" not in page.body
    assert officer.post(f"/hotlists/{ids[0]}/review", {"csrf": csrf_of(page.body),
                        "decision": "approve"}).status == 403  # fmt: skip
    manager = kept(console, "mgr")
    token = csrf_of(manager.get("/hotlists").body)
    approved = manager.post(f"/hotlists/{ids[0]}/review", {"csrf": token, "decision": "approve"})
    assert approved.status == 200 and f"entry {ids[0]} approved" in approved.body
    no_reason = manager.post(f"/hotlists/{ids[1]}/review", {"csrf": token, "decision": "reject"})
    assert no_reason.status == 400 and "needs a reason" in no_reason.body
    form = {"csrf": token, "decision": "reject", "reason": "no written request on file"}
    assert manager.post(f"/hotlists/{ids[1]}/review", form).status == 200
    statuses = [store.hotlist_entry(i)["status"] for i in ids]  # type: ignore[index]
    assert statuses == ["approved", "rejected"]
    assert {"hotlist approve", "hotlist reject"} <= {r["action"] for r in records(console, "mgr")}


def test_investigator_searches_the_index_in_storage(console: Console) -> None:
    """The history role searches every read in the retention through the Parquet index, as
    `alpr search` does; a read the gateway no longer holds shows from storage."""
    store = console.gateway.store
    unsynced = "SELECT count(*) FROM reads WHERE synced_at IS NULL"
    assert wait_for(lambda: store.connect().execute(unsynced).fetchone()[0] == 0, 60)
    investigator = kept(console, "inv")
    token = investigator.csrf("/search")
    form = {"csrf": token, "purpose": "stolen vehicle", "case": "26-000123", "plate": PLATE}
    found = investigator.post("/search", form)
    assert found.status == 200, found.body[-400:]
    reads = {r["id"] for r in store.connect().execute("SELECT id FROM reads")}
    shown = set(re.findall(r'id="read-([0-9a-f-]+)"', found.body))
    assert shown == reads
    search = [r for r in records(console, "inv") if r["action"] == "search"][-1]
    assert search["kind"] == "inquiry" and search["result_count"] == len(reads)
    assert search["why"] == "stolen vehicle; case 26-000123"
    # the gateway purges its copy; the index and the storage still have the read
    read = sorted(reads)[0]
    link = re.search(rf'src="(/reads/{read}/crop\.jpg\?[^"]+)"', found.body)
    assert link, "no storage link for an index result"
    store.connect().execute("DELETE FROM reads WHERE id=?", (read,))
    image = investigator.get(link.group(1).replace("&amp;", "&"))
    assert image.status == 200 and image.header("content-type") == "image/jpeg"
    officer = logged_in(console, "ofc")
    assert officer.get(link.group(1).replace("&amp;", "&")).status == 404


def test_session_survives_a_restart_until_logout_or_idle(console: Console) -> None:
    """The sessions are in the access database: a console built anew over it (as after a restart)
    takes the same cookie and CSRF token; logging out or going idle ends it there too."""
    from gateway.web.console import console_server

    gateway = console.gateway
    first, second = logged_in(console, "ofc"), logged_in(console, "ofc")
    tokens = [first.csrf(), second.csrf()]
    stored = gateway.console.app.state.access.connect()  # type: ignore[union-attr]
    rows = stored.execute("SELECT * FROM console_sessions").fetchall()
    assert first.cookies[COOKIE] not in str([dict(r) for r in rows])  # its hash only
    restarted = console_server(gateway.config, gateway.store)
    assert restarted is not None
    restarted.start()
    try:
        again = [Browserless(restarted.url, dict(c.cookies)) for c in (first, second)]
        for client, token in zip(again, tokens, strict=True):
            page = client.get("/alerts")
            assert page.status == 200 and csrf_of(page.body) == token
        assert again[0].post("/logout", {"csrf": tokens[0]}).status == 303
        gone = token_hash(first.cookies[COOKIE])
        assert not stored.execute(
            "SELECT 1 FROM console_sessions WHERE token_sha256=?", (gone,)
        ).fetchall()
        assert Browserless(restarted.url, dict(first.cookies)).get("/alerts").status == 303
        assert first.get("/alerts").status == 303  # on the other listener too
        make_idle(console, second)
        answer = again[1].get("/alerts")
        assert answer.status == 303 and "idle" in answer.header("location")
        key = token_hash(second.cookies[COOKIE])
        assert not stored.execute(
            "SELECT 1 FROM console_sessions WHERE token_sha256=?", (key,)
        ).fetchall()
        assert second.get("/alerts").status == 303
    finally:
        restarted.shutdown()


def test_login_purges_idle_console_sessions(console: Console) -> None:
    idle = logged_in(console, "ofc")
    make_idle(console, idle)
    key = token_hash(idle.cookies[COOKIE])
    stored = console.gateway.console.app.state.access.connect()  # type: ignore[union-attr]
    query = "SELECT count(*) FROM console_sessions WHERE token_sha256=?"
    assert stored.execute(query, (key,)).fetchone()[0] == 1
    logged_in(console, "tech")
    assert stored.execute(query, (key,)).fetchone()[0] == 0


def share_request(console: Console, agency: str, case: str) -> int:
    """A written request from another agency, recorded by the investigator (as `alpr share
    request` does)."""
    from gateway.sharing import requests

    db = console.gateway.console.app.state.access  # type: ignore[union-attr]
    query = requests.Query((PLATE,))
    req = requests.Request(agency, "Sgt. Lee", "555-0199", "stolen vehicle", case, query)
    return requests.create(db, req, "inv", "test")


def share_status(console: Console, share_id: int) -> str:
    from gateway.sharing import requests

    db = console.gateway.console.app.state.access  # type: ignore[union-attr]
    return str(requests.get(db, share_id)["status"])


def test_manager_approves_and_denies_shares_others_may_not(console: Console) -> None:
    ids = [share_request(console, agency, case) for agency, case in
           ((MOU_AGENCY, "SO-26-1"), (NO_MOU_AGENCY, "LPD-26-2"), (MOU_AGENCY, "SO-26-3"))]  # fmt: skip
    officer = logged_in(console, "ofc")
    assert officer.get("/sharing").status == 403
    form = {"csrf": officer.csrf(), "verified_by": "call-back"}
    refused = officer.post(f"/sharing/{ids[0]}/approve", form)
    assert refused.status == 403 and "may not share.approve" in refused.body
    investigator = kept(console, "inv")
    page = investigator.get("/sharing")
    assert page.status == 200 and f'id="share-{ids[0]}"' in page.body
    assert "Approve</button>" not in page.body
    form = {"csrf": csrf_of(page.body), "verified_by": "call-back"}
    assert investigator.post(f"/sharing/{ids[0]}/approve", form).status == 403
    assert share_status(console, ids[0]) == "requested"
    manager = kept(console, "mgr")
    page = manager.get("/sharing")
    assert page.status == 200 and f'action="/sharing/{ids[0]}/approve"' in page.body
    token = csrf_of(page.body)
    unverified = manager.post(f"/sharing/{ids[0]}/approve", {"csrf": token, "verified_by": ""})
    assert unverified.status == 400 and "identity was verified" in unverified.body
    form = {"csrf": token, "verified_by": "call-back to the sheriff's dispatch"}
    approved = manager.post(f"/sharing/{ids[0]}/approve", form)
    assert approved.status == 200 and f"share {ids[0]} approved by mgr" in approved.body
    no_mou = manager.post(f"/sharing/{ids[1]}/approve", {**form, "note": "urgent"})
    assert no_mou.status == 400 and "must be approved by the chief" in no_mou.body
    no_reason = manager.post(f"/sharing/{ids[2]}/deny", {"csrf": token, "reason": " "})
    assert no_reason.status == 400 and "reason" in no_reason.body
    denied = manager.post(f"/sharing/{ids[2]}/deny", {"csrf": token, "reason": "no case open"})
    assert denied.status == 200 and f"share {ids[2]} denied" in denied.body
    assert [share_status(console, i) for i in ids] == ["approved", "requested", "denied"]
    actions = [r["action"] for r in records(console, "mgr")]
    assert {"share list", "share approve", "share approve refused", "share deny"} <= set(actions)
    denials = [r for r in records(console, "ofc") if r["kind"] == "denied"]
    assert "share.approve" in str(denials[-1]["what"])


def test_auditor_reads_the_dissemination_log(console: Console) -> None:
    from gateway.access.roles import Principal
    from gateway.sharing import release, requests

    db = console.gateway.console.app.state.access  # type: ignore[union-attr]
    share = share_request(console, MOU_AGENCY, "SO-26-9")
    boss = Principal("mgr", frozenset({"manager"}))
    agencies = console.gateway.config.sharing.agencies
    requests.approve(db, share, boss, "call-back", "", agencies, "test")
    out = console.tmp / f"share-{share}"
    pkg = release.fulfil(db, console.gateway.store, share, "inv", out, agencies, "Test PD", "test")
    auditor = kept(console, "aud")
    page = auditor.get("/sharing/log")
    assert page.status == 200 and 'id="release-' in page.body and "SO-26-9" in page.body
    assert pkg.manifest_sha256[:16] in page.body
    csv_file = auditor.get("/sharing/log.csv")
    assert csv_file.status == 200 and "attachment" in csv_file.header("content-disposition")
    lines = csv_file.body.splitlines()
    assert lines[0].startswith("id,at,share_id,agency") and any("SO-26-9" in x for x in lines)
    assert auditor.get("/sharing").status == 200  # share.view: the requests too, no decisions
    assert auditor.post(f"/sharing/{share}/deny", {"csrf": auditor.csrf("/sharing"),
                        "reason": "x"}).status == 403  # fmt: skip
    views = [r for r in records(console, "aud") if r["action"] == "share log"]
    assert len(views) >= 2 and views[-1]["result_count"] >= 1
    assert logged_in(console, "ofc").get("/sharing/log").status == 403
    assert logged_in(console, "tech").get("/sharing/log.csv").status == 403


def test_transparency_report_page_and_download(console: Console) -> None:
    import io
    import json
    import zipfile

    manager = kept(console, "mgr")
    page = manager.get("/reports")
    assert page.status == 200 and 'href="/reports/transparency.zip"' in page.body
    report = manager.get("/reports/transparency/")
    assert report.status == 200 and "Test PD: automated licence plate readers" in report.body
    csp = report.header("content-security-policy")
    assert "script-src" not in csp and "default-src 'none'" in csp  # no scripts at all
    figures = manager.get("/reports/transparency/figures.json")
    assert figures.status == 200
    reads = json.loads(figures.body)["totals"]["reads"]
    assert f'id="reads">{reads}<' in report.body
    assert manager.get("/reports/transparency/alpr.toml").status == 404
    download = manager.request("GET", "/reports/transparency.zip")
    assert download.status == 200 and download.header("content-type") == "application/zip"
    # the client decodes bodies as text: fetch the bytes again for the archive
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(console.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    cookie = "; ".join(f"{k}={v}" for k, v in manager.cookies.items())
    conn.request("GET", "/reports/transparency.zip", headers={"Cookie": cookie})
    data = conn.getresponse().read()
    conn.close()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert {"transparency/index.html", "transparency/figures.json"} <= set(names)
    outs = [r["what"] for r in records(console, "mgr") if r["action"] == "report transparency"]
    assert '"out":"console"' in str(outs) and '"out":"download"' in str(outs)
    officer = logged_in(console, "ofc")
    assert officer.get("/reports/transparency/").status == 403
    assert "Reports" not in officer.get("/alerts").body.split("</nav>")[0]


def test_search_requests_under_supervisor_approval(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[search] approval = "supervisor"`: the investigator files the search, a manager approves
    it, the investigator runs it once, as with `alpr search --request`, `approve`, `run`."""
    import dataclasses

    from gateway.access import search_requests

    app = console.gateway.console.app  # type: ignore[union-attr]
    config = app.state.config
    supervised = dataclasses.replace(
        config, search=config.search.model_copy(update={"approval": "supervisor"})
    )
    # State keeps its attributes in a dict: monkeypatch.setattr on it deletes `config` at undo
    monkeypatch.setitem(app.state._state, "config", supervised)
    store = console.gateway.store
    unsynced = "SELECT count(*) FROM reads WHERE synced_at IS NULL"
    assert wait_for(lambda: store.connect().execute(unsynced).fetchone()[0] == 0, 60)
    investigator = kept(console, "inv")
    token = investigator.csrf("/search")
    form = {"csrf": token, "purpose": "stolen vehicle", "case": "26-000777", "plate": PLATE}
    searches = len([r for r in records(console, "inv") if r["action"] == "search"])
    filed = investigator.post("/search", form)
    assert filed.status == 200 and "waits for a manager" in filed.body, filed.body[-500:]
    assert 'id="read-' not in filed.body
    rid = int(re.findall(r"search request (\d+) waits", filed.body)[0])
    assert search_requests.get(app.state.access, rid).status == "pending"
    early = investigator.post(f"/search/requests/{rid}/run", {"csrf": token})
    assert early.status == 400 and "pending, not approved" in early.body
    assert investigator.get("/search/requests").status == 403
    officer = logged_in(console, "ofc")
    decide = {"csrf": officer.csrf(), "decision": "approve"}
    assert officer.post(f"/search/requests/{rid}/decide", decide).status == 403
    manager = kept(console, "mgr")
    waiting = manager.get("/search/requests")
    assert waiting.status == 200 and f'id="search-request-{rid}"' in waiting.body
    assert "stolen vehicle; case 26-000777" in waiting.body
    decide = {"csrf": csrf_of(waiting.body), "decision": "approve", "note": "open case"}
    approved = manager.post(f"/search/requests/{rid}/decide", decide)
    assert approved.status == 200 and f"search request {rid}: approved" in approved.body
    mine = investigator.get("/search")
    assert f'action="/search/requests/{rid}/run"' in mine.body
    found = investigator.post(f"/search/requests/{rid}/run", {"csrf": token})
    assert found.status == 200 and 'id="read-' in found.body and PLATE in found.body
    ran = [r for r in records(console, "inv") if r["action"] == "search"]
    assert len(ran) == searches + 1
    assert '"request":' + str(rid) in ran[-1]["what"] and '"approved_by":"mgr"' in ran[-1]["what"]
    assert ran[-1]["why"] == "stolen vehicle; case 26-000777"
    again = investigator.post(f"/search/requests/{rid}/run", {"csrf": token})
    assert again.status == 400 and "is done" in again.body
    actions = [r["action"] for r in records(console, "mgr")]
    assert "search approved" in actions and "search pending" in actions


def test_page_views_write_the_session_clock_at_most_every_30_s(console: Console) -> None:
    """Each page view used to write `last_seen` (a synced write); now only one a TOUCH_S apart."""
    from gateway.access.console_sessions import TOUCH_S

    client = logged_in(console, "ofc")
    sessions = console.gateway.console.app.state.sessions  # type: ignore[union-attr]
    stored = console.gateway.console.app.state.access.connect()  # type: ignore[union-attr]
    key = token_hash(client.cookies[COOKIE])
    query = "SELECT last_seen FROM console_sessions WHERE token_sha256=?"
    stored.execute(
        "UPDATE console_sessions SET last_seen = last_seen - 5 WHERE token_sha256=?", (key,)
    )
    before = stored.execute(query, (key,)).fetchone()[0]
    assert client.get("/alerts").status == 200
    assert stored.execute(query, (key,)).fetchone()[0] == before, "written again within 30 s"
    stored.execute(
        "UPDATE console_sessions SET last_seen = last_seen - ? WHERE token_sha256=?",
        (min(TOUCH_S, sessions.idle_s / 10), key),
    )
    assert client.get("/alerts").status == 200
    assert stored.execute(query, (key,)).fetchone()[0] > before, "never written again"


def test_an_approved_share_is_released_as_a_download(console: Console) -> None:
    """The release writes the dissemination log like `alpr share fulfil` and answers the package
    (manifest, checksums, cover sheet) as a zip; nothing of it stays on the gateway."""
    import hashlib
    import http.client
    import io
    import tempfile
    import zipfile
    from urllib.parse import urlsplit

    from gateway.access.roles import Principal
    from gateway.sharing import requests

    db = console.gateway.console.app.state.access  # type: ignore[union-attr]
    share = share_request(console, MOU_AGENCY, "SO-26-21")
    agencies = console.gateway.config.sharing.agencies
    requests.approve(db, share, Principal("mgr", frozenset({"manager"})), "call-back", "",
                     agencies, "test")  # fmt: skip
    officer = logged_in(console, "ofc")
    assert officer.post(f"/sharing/{share}/release", {"csrf": officer.csrf()}).status == 403
    auditor = kept(console, "aud")  # reads the requests and the log, releases nothing
    refused = auditor.post(f"/sharing/{share}/release", {"csrf": auditor.csrf("/sharing")})
    assert refused.status == 403 and share_status(console, share) == "approved"
    investigator = kept(console, "inv")
    page = investigator.get("/sharing")
    assert f'action="/sharing/{share}/release"' in page.body
    parts = urlsplit(console.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    conn.request(
        "POST",
        f"/sharing/{share}/release",
        body=f"csrf={csrf_of(page.body)}",
        headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in investigator.cookies.items()),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    assert answer.status == 200 and answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    prefix = f"share-{share}/"
    assert {prefix + "manifest.json", prefix + "SHA256SUMS", prefix + "cover.html"} <= names
    manifest = archive.read(prefix + "manifest.json")
    assert hashlib.sha256(manifest).hexdigest() == answer.headers["x-manifest-sha256"]
    assert any(n.endswith(".jpg") for n in names), "the package holds no image"
    assert share_status(console, share) == "fulfilled"
    log = requests.dissemination_log(db)
    assert log[-1]["share_id"] == share and log[-1]["released_by"] == "inv"
    assert log[-1]["manifest_sha256"] == answer.headers["x-manifest-sha256"]
    assert "console download" in requests.get(db, share)["out_dir"]
    again = investigator.post(f"/sharing/{share}/release", {"csrf": csrf_of(page.body)})
    assert again.status == 400 and "released already" in again.body
    assert not list(Path(tempfile.gettempdir()).glob("alpr-share-*")), "a copy stayed behind"
