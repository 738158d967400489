"""Hot-list workflow: requested entries alert only once approved, sources approved as a whole,
scoped entries, the agency's categories and reminder, import profiles, refreshes and stale lists."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import write_config

from gateway import feeds, hit_events, hotlist, review
from gateway.alert_message import subject, summary, text
from gateway.alerts import VERIFY_REMINDER, TargetWorker, build_payload
from gateway.config import ConfigError, load
from gateway.hotlist import Matcher, Scope, parse
from gateway.pipeline import MatcherCache
from gateway.schedule import parse_schedule
from gateway.store import Store

FUTURE = (dt.date.today() + dt.timedelta(days=90)).isoformat()
HEADER = "plate,state,category,case_number,reason,requested_by,contact,instructions,expires\n"
MANUAL = {
    "category": "stolen-vehicle",
    "case-number": "26-14",
    "reason": "stolen",
    "contact": "dispatch",
    "instructions": "verify first",
    "expires": FUTURE,
    "request-ref": "memo 26-14",
}
SITES = """
[[sites]]
id = "s2"
lat = 41.0
lon = -87.0
"""


def add_args(plate: str, **extra: str) -> list[str]:
    fields = {**MANUAL, **extra}
    return ["add", plate, *(f"--{k}={v}" for k, v in fields.items())]


def csv_line(plate: str, case: str = "24-1") -> str:
    return f"{plate},IL,stolen-vehicle,{case},stolen,Det. Ray,dispatch,verify,{FUTURE}\n"


@pytest.fixture
def setup(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> tuple[Path, Team, Store, Callable[..., tuple[int, str, str]]]:
    config = write_config(tmp_path, extra=SITES)
    team = make_team(config)
    team.add("mgr2", "manager")
    store = Store(load(config).data_dir)

    def hot(*args: str, user: str = "ofc") -> tuple[int, str, str]:
        return team.cli("hotlist", *args, "--config", str(config), user=user)

    return config, team, store, hot


def test_an_unapproved_entry_never_alerts(
    setup: tuple[Path, Team, Store, Callable[..., tuple[int, str, str]]],
) -> None:
    _config, team, store, hot = setup
    matchers = MatcherCache(store, 1)
    code, out, err = hot(*add_args("REQ111"))
    assert code == 0 and "alerts once a manager approves it" in out, err
    code, out, err = hot(*add_args("REJ222"))
    assert code == 0, err
    ids = {r["plate"]: r["id"] for r in store.hotlist_rows()}
    row = store.hotlist_entry(ids["REQ111"])
    assert row is not None
    assert (row["status"], row["entered_by"], row["requested_by"], row["request_ref"]) == (
        "requested",
        "ofc",
        "ofc",
        "memo 26-14",
    )
    assert matchers.get().match("REQ111") == [] and matchers.get().match("REJ222") == []

    # an officer may not approve; a manager may not approve what they entered themselves
    code, _, err = hot("approve", str(ids["REQ111"]))
    assert code != 0 and "may not hotlist.approve" in err
    code, _, err = hot(*add_args("OWN333"), user="mgr")
    own = max(r["id"] for r in store.hotlist_rows())
    code, _, err = hot("approve", str(own), user="mgr")
    assert code == 2 and "another manager" in err
    assert matchers.get().match("OWN333") == []

    code, _, err = hot("reject", str(ids["REJ222"]), "--reason", "no written request", user="mgr")
    assert code == 0, err
    code, _, err = hot("approve", str(ids["REJ222"]), user="mgr2")
    assert code == 2 and "already rejected" in err
    assert matchers.get().match("REJ222") == []
    code, _, err = hot("approve", str(ids["REQ111"]), user="mgr")
    assert code == 0, err
    assert [m.entry_id for m in matchers.get().match("REQ111")] == [ids["REQ111"]]
    approved = store.hotlist_entry(ids["REQ111"])
    assert approved is not None and approved["approved_by"] == "mgr"

    # an imported source matches only once approved as a whole
    store.replace_hotlist("state", parse(HEADER + csv_line("IMP444"), "state", "csv")[0])
    assert matchers.get().match("IMP444") == []
    assert review.approve_source(store, "state", "mgr", "MOU 2026") == 1
    assert matchers.get().match("IMP444")
    store.replace_hotlist("state", parse(HEADER + csv_line("IMP555"), "state", "csv")[0])
    assert matchers.get().match("IMP555"), "a re-import of an approved source is approved"

    actions = [(r["user"], r["action"]) for r in team.records(kinds=("change",))]
    assert ("mgr", "hotlist reject") in actions and ("mgr", "hotlist approve") in actions
    assert [h["action"] for h in store.hotlist_history(ids["REJ222"])] == ["requested", "rejected"]


def test_a_scoped_entry_alerts_only_at_its_sites(
    setup: tuple[Path, Team, Store, Callable[..., tuple[int, str, str]]],
) -> None:
    _config, _team, store, hot = setup
    assert hot(*add_args("SIT111", site="s2"))[0] == 0
    assert hot(*add_args("RAD222", near="40.0,-88.0", **{"radius-m": "500"}))[0] == 0
    assert hot(*add_args("ALL333"))[0] == 0
    code, _, err = hot(*add_args("BAD444", site="nowhere"))
    assert code == 2 and "unknown site 'nowhere'" in err
    code, _, err = hot(*add_args("BAD555", **{"radius-m": "500"}))
    assert code == 2 and "give all three" in err
    for r in store.hotlist_rows():
        assert hot("approve", str(r["id"]), user="mgr")[0] == 0
    matcher = MatcherCache(store, 1).get()
    # the pipeline matches with the camera's site and position (s1 is at 40.0, -88.0)
    at_s1 = {"site": "s1", "lat": 40.0, "lon": -88.0}
    at_s2 = {"site": "s2", "lat": 41.0, "lon": -87.0}
    assert matcher.match("SIT111", **at_s1) == [] and matcher.match("SIT111", **at_s2)
    assert matcher.match("RAD222", **at_s1) and matcher.match("RAD222", **at_s2) == []
    near_s1 = {"site": "s9", "lat": 40.003, "lon": -88.0}  # about 330 m north
    assert matcher.match("RAD222", **near_s1) and matcher.match("SIT111", **near_s1) == []
    assert matcher.match("ALL333", **at_s1) and matcher.match("ALL333", **at_s2)
    scope = Scope(frozenset(), 40.0, -88.0, 300.0)
    assert not scope.covers("x", 40.003, -88.0) and scope.covers("x", 40.002, -88.0)


def test_categories_and_reminder_come_from_the_config(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    reminder = "Confirm with MULES before any action."
    extra = (
        f'[hotlist]\ncategories = ["blue-alert", "silver-alert"]\n[hits]\nreminder = "{reminder}"\n'
    )
    config = write_config(tmp_path, extra=extra)
    team = make_team(config)
    loaded = load(config)
    assert loaded.alert_reminder == reminder and "silver-alert" in loaded.categories
    code, _out, err = team.cli(
        "hotlist",
        *add_args("BLU111", category="silver-alert", subject="man, 80, grey coat"),
        *("--vehicle-colour", "blue", "--vehicle-make", "Buick", "--vehicle-type", "sedan"),
        *("--config", str(config)),
        user="ofc",
    )
    assert code == 0, err
    plain = write_config(tmp_path)
    code, _, err = team.cli(
        "hotlist", *add_args("BLU222", category="silver-alert"), "--config", str(plain), user="ofc"
    )
    assert code == 2 and "'silver-alert' is not one of" in err
    with pytest.raises(ConfigError, match=r"hotlist.categories\[0\]"):
        load(write_config(tmp_path, extra='[hotlist]\ncategories = ["Blue Alert"]\n'))

    entry = dict(Store(loaded.data_dir).hotlist_rows()[0])
    payload = build_payload(1, "exact", "BLU111", {"camera": "cam-01"}, entry, reminder=reminder)
    assert next(iter(payload)) == "reminder" and payload["reminder"] == reminder
    shown = payload["entry"]
    assert (shown["vehicle_colour"], shown["vehicle_make"], shown["vehicle_type"]) == (
        "blue",
        "Buick",
        "sedan",
    )
    assert shown["subject"] == "man, 80, grey coat" and shown["entered_by"] == "ofc"
    assert "approved_by" in shown
    assert build_payload(1, "exact", "X", {}, entry)["reminder"] == VERIFY_REMINDER


PROFILE = """
[hotlist.profiles.mules]
delimiter = "|"
header = false
date_format = "%m/%d/%Y"
columns = { "1" = "plate", "2" = "state", "3" = "category", "4" = "case_number", "5" = "expires", "6" = "vehicle_make" }
categories = { SV = "stolen-vehicle", SL = "stolen-plate" }
defaults = { reason = "MULES entry", requested_by = "MSHP", contact = "MULES terminal", instructions = "confirm in MULES" }

[hotlist.profiles.rejis]
delimiter = ","
columns = { "LIC" = "plate", "TYPE" = "category", "OCA" = "case_number", "EXP" = "expires", "WHY" = "reason" }
date_format = "%Y%m%d"
defaults = { requested_by = "REJIS", contact = "dispatch", instructions = "confirm" }
"""


def test_an_import_profile_parses_a_custom_layout(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, extra=PROFILE))
    mules = config.hotlist_format("mules")
    text = (
        "# MULES extract\n"
        "ABC123|MO|SV|26-1|12/31/2030|Ford\n"
        "XYZ789|MO|ZZ|26-2|12/31/2030|\n"
        "DEF456|MO|SL|26-3|2030-12-31|\n"
        "GHI|MO\n"
    )
    entries, errors = parse(text, "mules", mules, config.categories)
    assert [(e.plate, e.category, e.expires, e.vehicle_make, e.contact) for e in entries] == [
        ("ABC123", "stolen-vehicle", dt.date(2030, 12, 31), "Ford", "MULES terminal")
    ]
    assert [(e.line, e.reason.split(":")[0]) for e in errors] == [
        (3, "category"),
        (4, "expires"),
        (5, "expected at least 6 '|'-separated fields, got 2"),
    ]
    rejis = config.hotlist_format("rejis")
    text = "EXP,OCA,LIC,TYPE,WHY\n20301231,26-9,REJ111,bolo,seen at bank\n"
    entries, errors = parse(text, "rejis", rejis, config.categories)
    assert errors == [] and (entries[0].plate, entries[0].reason) == ("REJ111", "seen at bank")
    _, errors = parse("OCA,LIC\n1,2\n", "rejis", rejis)
    assert errors[0].whole_file and "header lacks TYPE, EXP, WHY" in errors[0].reason

    with pytest.raises(ConfigError, match="columns: no column or default for expires"):
        load(write_config(tmp_path, extra=PROFILE.replace('"5" = "expires", ', "")))
    with pytest.raises(ConfigError, match="'colour' is not an entry field"):
        load(write_config(tmp_path, extra=PROFILE.replace('"vehicle_make"', '"colour"')))
    with pytest.raises(ConfigError, match=r"hotlists\[0\].format: 'acic'"):
        load(write_config(tmp_path, extra='[[hotlists]]\nsource="a"\npath="a"\nformat="acic"\n'))


def test_refresh_swaps_in_the_new_file_when_due(tmp_path: Path) -> None:
    daily = parse_schedule("daily 04:00")
    last = dt.datetime(2026, 5, 1, 3, 0).timestamp()
    assert not daily.due(last, dt.datetime(2026, 5, 1, 3, 59).timestamp())
    assert daily.due(last, dt.datetime(2026, 5, 1, 4, 0).timestamp())
    assert not daily.due(dt.datetime(2026, 5, 1, 4, 1).timestamp(), last + 86000)
    assert parse_schedule("every 6h").due(0.0, 6 * 3600) and not parse_schedule("every 6h").due(
        0.0, 5 * 3600
    )
    with pytest.raises(ValueError, match="daily HH:MM"):
        parse_schedule("hourly")

    (tmp_path / "state.csv").write_text(HEADER + csv_line("OLD111"))
    extra = '[[hotlists]]\nsource = "state"\npath = "state.csv"\nrefresh = "every 1h"\n'
    config = load(write_config(tmp_path, extra=extra))
    store = Store(config.data_dir)
    review.approve_source(store, "state", "mgr")
    feeds.load_configured_hotlists(store, config)
    matchers = MatcherCache(store, 1)
    assert matchers.get().match("OLD111")
    (tmp_path / "state.csv").write_text(HEADER + csv_line("NEW222"))
    assert feeds.refresh_due(store, config) == []  # not due yet
    assert feeds.refresh_due(store, config, time.time() + 3601) == ["state"]
    assert matchers.get().match("OLD111") == [] and matchers.get().match("NEW222")
    # a refused refresh leaves the list and says why
    (tmp_path / "state.csv").write_text("nonsense\n")
    assert feeds.refresh_due(store, config, time.time() + 7300) == ["state"]
    assert matchers.get().match("NEW222")
    (state,) = review.source_states(store, config.hotlists)
    assert state.last_error is not None and "bad header" in state.last_error


def test_a_stale_source_raises_an_alert(
    tmp_path: Path, make_team: Callable[[Path], Team], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ncic.txt").write_text(
        "0001|V|7ABC123|CA|24-1|STOLEN|DET|DISPATCH|CONFIRM|20991231\n"
    )
    extra = (
        '[[hotlists]]\nsource = "ncic"\npath = "ncic.txt"\nformat = "ncic"\nmax_age_hours = 2\n'
        '[[hotlists]]\nsource = "state"\npath = "missing.csv"\n'
    )
    path = write_config(tmp_path, extra=extra)
    config = load(path)
    team = make_team(path)
    store = Store(config.data_dir)
    feeds.load_configured_hotlists(store, config)
    now = time.time()
    # the state file was never read: stale at once (default max age 24 h); ncic is fresh
    assert feeds.check_stale(store, config, now) == ["state"]
    assert feeds.check_stale(store, config, now + 3 * 3600) == ["ncic"]
    assert feeds.check_stale(store, config, now + 4 * 3600) == []  # once per import
    rows = store.connect().execute("SELECT hit_id, payload FROM alerts").fetchall()
    assert [r["hit_id"] for r in rows] == [None, None]
    payload = json.loads(rows[1]["payload"])
    assert payload["type"] == "stale-list" and payload["source"] == "ncic"
    assert "hot list ncic is stale: last imported 3.0 h ago (allowed 2 h)" in payload["message"]
    first = json.loads(rows[0]["payload"])
    assert "never imported" in first["message"] and "cannot read" in first["last_error"]

    # every channel renders it; the log target delivers it like any alert
    assert subject(payload).startswith("ALPR stale-list: hot list ncic is stale")
    assert text(payload).startswith("hot list ncic is stale")
    assert summary(payload).startswith("ALERT stale-list: hot list ncic")
    stop = threading.Event()
    with caplog.at_level(logging.WARNING, logger="alpr.alerts"):
        assert TargetWorker(store, 0, config.alerts[0], stop, 5.0, 1.0).deliver_due() == 2
    assert "ALERT stale-list: hot list ncic is stale" in caplog.text
    undelivered = store.connect().execute("SELECT count(*) FROM alerts WHERE delivered_at IS NULL")
    assert undelivered.fetchone()[0] == 0

    code, out, err = team.cli("gateway", "status", "--json", "--config", str(path), user="tech")
    assert code == 0, err
    status = json.loads(out)
    assert status["hotlists_stale"] == ["state"]  # ncic is fresh by the clock now
    assert status["hotlists_unapproved"] == ["ncic"]
    code, out, _ = team.cli("gateway", "status", "--config", str(path), user="tech")
    assert "hot list state is stale" in out and "approve-source ncic" in out
    code, out, _ = team.cli("hotlist", "sources", "--config", str(path), user="ofc")
    assert "STALE" in out and "NOT APPROVED" in out


def test_matcher_scopes_do_not_touch_unscoped_entries() -> None:
    exp = dt.date.today() + dt.timedelta(days=5)
    m = Matcher(
        [(1, "ABC123", exp), (2, "ABC123", exp)],
        scopes={2: Scope(frozenset({"s2"}))},
    )
    assert [x.entry_id for x in m.match("ABC123")] == [1]
    assert sorted(x.entry_id for x in m.match("ABC123", site="s2")) == [1, 2]
    assert hotlist.all_categories(["blue-alert"])["blue-alert"] == "blue alert"


CAMERA_AT_S2 = """
[[cameras]]
id = "cam-03"
site = "s2"
heading = 0
secret = "file:cam-02.key"

[hits]
reminder = "Confirm with MULES before any action."
"""


def test_the_reader_pipeline_alerts_only_approved_entries_where_they_apply(
    tmp_path: Path,
) -> None:
    """Reads recorded by a real reader worker: the scoped entry hits only at its site, the requested
    one never, and the alert opens with the configured reminder and shows the descriptions."""
    from gateway_helpers import jpeg

    from gateway.pipeline import BestRead, ReaderWorker
    from gateway.reader.reader import PlateRead, ReaderConfig

    config = load(write_config(tmp_path, extra=SITES + CAMERA_AT_S2))
    store = Store(config.data_dir)
    base = {
        "category": "stolen-vehicle",
        "case_number": "26-3",
        "reason": "stolen",
        "requested_by": "ofc",
        "contact": "dispatch",
        "instructions": "verify",
        "expires": FUTURE,
    }
    scoped = hotlist.make_entry({**base, "plate": "SCO111", "sites": "s2"}, "local")
    described = {**base, "plate": "REQ222", "vehicle_colour": "red", "vehicle_make": "Kia"}
    ids = {
        "SCO111": store.add_hotlist_entry(scoped, "ofc", "memo 1"),
        "REQ222": store.add_hotlist_entry(hotlist.make_entry(described, "local"), "ofc", "memo 2"),
    }
    review.review_entry(store, ids["SCO111"], "mgr", True)
    worker = ReaderWorker(
        config,
        store,
        MatcherCache(store, 1),
        set(),
        threading.Lock(),
        threading.Event(),
        ReaderConfig(),
    )

    def read(plate: str, camera: str, seq: int) -> list[dict[str, object]]:
        meta = {"captured": time.time(), "trigger": "radar", "frames": 1}
        response = store.add_event(camera, seq, meta, f"{plate}{seq}".encode())
        assert response is not None
        event = (
            store.connect()
            .execute("SELECT * FROM events WHERE id=?", (response["event"],))
            .fetchone()
        )
        found = BestRead(PlateRead(plate, 0.95, (0, 0, 40, 12)), jpeg(seq), jpeg(seq + 1))
        worker.record(event, config.cameras[camera], found)
        rows = store.connect().execute(
            "SELECT alerts.payload FROM alerts JOIN hits ON hits.id = alerts.hit_id"
            " JOIN reads ON reads.id = hits.read_id WHERE reads.event_id=?",
            (response["event"],),
        )
        return [json.loads(r[0]) for r in rows]

    assert read("SCO111", "cam-01", 1) == []  # cam-01 stands at s1
    (alert,) = read("SCO111", "cam-03", 2)
    assert alert["reminder"] == "Confirm with MULES before any action."
    assert alert["entry"]["sites"] == "s2" and alert["entry"]["approved_by"] == "mgr"
    assert read("REQ222", "cam-03", 3) == []  # requested, not approved
    review.review_entry(store, ids["REQ222"], "mgr", True)
    (alert,) = read("REQ222", "cam-01", 4)
    assert (alert["entry"]["vehicle_colour"], alert["entry"]["vehicle_make"]) == ("red", "Kia")


def test_an_older_store_is_upgraded_in_place(tmp_path: Path) -> None:
    """A store of the first release: its entries stay approved (managers entered them), its outbox
    takes notices without a hit, keeping every row, and its hits get the append-only history."""
    import sqlite3

    from test_store_migration import first_release_store

    first_release_store(tmp_path)
    store = Store(tmp_path)
    assert MatcherCache(store, 1).get().match("XYZ987")
    conn = store.connect()
    assert [r[0] for r in conn.execute("SELECT hit_id FROM alerts")] == [1]
    conn.execute(
        "INSERT INTO alerts (hit_id, target, payload, next_at) VALUES (NULL, 'x', '{}', 0)"
    )
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2
    assert [r[1] for r in conn.execute("PRAGMA index_list(alerts)")] == ["alerts_due"]
    with pytest.raises(sqlite3.IntegrityError, match="never rewritten in hits"):
        conn.execute("UPDATE hits SET disposition='misread' WHERE id=1")
    hit_events.verify(store, 1, "ofc", "NCIC", "confirmed")
    hit_events.dispose(store, 1, "ofc", "confirmed", "stopped")
    assert conn.execute("SELECT disposition FROM hits WHERE id=1").fetchone()[0] == "confirmed"
