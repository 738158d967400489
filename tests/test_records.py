"""Every look at reads and hits is logged by name, time and reason; purges leave a proof."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import write_config
from sync_helpers import make_hit, make_read

from cloud.storage import FileTarget
from gateway import hit_events
from gateway.config import load
from gateway.hotlist import make_entry
from gateway.store import RefusedError, Store, detail_digest
from gateway.sync import Syncer


def test_reads_list_filters_and_records_the_look_in_the_audit_log(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = write_config(tmp_path)
    team = make_team(config)
    store = Store(load(config).data_dir)
    make_read(store, text="ABC123", captured=time.time() - 3600)
    make_read(store, text="XYZ789", seed=2)
    look = ("reads", "list", "--json", "--reason", "case 26-0042", "--config", str(config))
    code, out, err = team.cli(*look, "--plate", "AB?12*", user="inv")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == ["ABC123"] and rows[0]["alternates"] == [["ABC12B", 0.05]]
    code, out, _ = team.cli(*look, "--since", str(time.time() - 60), user="inv")
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["XYZ789"]

    looks = team.records(kinds=("inquiry",))
    assert [(r["user"], r["action"], r["why"], r["result_count"]) for r in looks] == [
        ("inv", "reads list", "case 26-0042", 1),
        ("inv", "reads list", "case 26-0042", 1),
    ]
    assert all(r["source"].startswith("cli:") for r in looks)
    # the plate searched for stays out of the chain: the record names its detail row and digest
    assert "AB?12" not in looks[0]["what"]
    ref = json.loads(looks[0]["what"])["plate_query"]
    detail = store.connect().execute("SELECT * FROM access_log").fetchall()
    assert len(detail) == 1 and detail[0]["id"] == ref["access_log"]
    assert json.loads(detail[0]["query"])["plate"] == "AB?12*" and detail[0]["user"] == "inv"
    assert detail_digest(detail[0]["nonce"], detail[0]["query"]) == ref["sha256"]
    assert "plate_query" not in json.loads(looks[1]["what"])  # no plate, no detail row


def test_an_officer_sees_the_last_day_at_their_own_sites(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = write_config(tmp_path)
    team = make_team(config)
    store = Store(load(config).data_dir)
    now = time.time()
    make_read(store, text="NEW111", captured=now - 3600, seed=1)
    make_read(store, text="OLD222", captured=now - 30 * 3600, seed=2)
    make_read(store, text="FAR333", captured=now - 3600, seed=3, site="s2")
    look = ("reads", "list", "--json", "--reason", "stop 7", "--config", str(config))

    def texts(user: str, *extra: str) -> tuple[set[str], str]:
        code, out, err = team.cli(*look, *extra, user=user)
        assert code == 0, err
        return {json.loads(line)["text"] for line in out.splitlines()}, err

    assert texts("inv")[0] == {"NEW111", "OLD222", "FAR333"}
    assert texts("ofc")[0] == {"NEW111"}
    seen, err = texts("ofc", "--since", str(now - 48 * 3600))
    assert seen == {"NEW111"} and "last 24 h only" in err
    what = json.loads(team.records(user="ofc", kinds=("inquiry",))[-1]["what"])
    assert what["sites"] == ["s1"] and what["since"] == pytest.approx(now - 24 * 3600, abs=60)


def test_purge_log_prints_proof(tmp_path: Path, make_team: Callable[[Path], Team]) -> None:
    path = write_config(tmp_path)
    config = load(path)
    team = make_team(path)
    store = Store(config.data_dir)
    make_read(store, captured=time.time() - 40 * 86400)
    Syncer(config, store, FileTarget(tmp_path / "store")).purge()
    code, out, err = team.cli("purge-log", "--json", "--config", str(path), user="aud")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert (
        len(records) == 1
        and records[0]["count"] == 1
        and records[0]["reason"] == "past agency retention"
    )
    assert len(records[0]["ids_sha256"]) == 64
    text = team.cli("purge-log", "--config", str(path), user="mgr")[1]
    assert "1 purged" in text and records[0]["ids_sha256"] in text
    assert [r["user"] for r in team.records() if r["action"] == "purge-log"] == ["aud", "mgr"]


WHY = ("--reason", "case 26-0042")
FUTURE = (dt.date.today() + dt.timedelta(days=90)).isoformat()


def test_a_look_needs_a_reason(tmp_path: Path, make_team: Callable[[Path], Team]) -> None:
    config = str(write_config(tmp_path))
    team = make_team(Path(config))
    store = Store(load(config).data_dir)
    make_read(store, text="ABC123")
    for command in ("reads", "hits"):
        code, out, err = team.cli(command, "list", "--config", config, user="inv")
        assert code == 2 and "ABC123" not in out
        assert "the following arguments are required: --reason" in err
    code, out, err = team.cli(
        "reads", "list", "--plate", "ABC*", "--reason", " ", "--config", config, user="inv"
    )
    assert code == 2 and "reason" in err and "ABC123" not in out
    assert team.records(kinds=("inquiry",)) == []
    assert store.connect().execute("SELECT count(*) FROM access_log").fetchone()[0] == 0
    with pytest.raises(RefusedError):
        store.add_query_detail("kim", "reads list", "  ", {}, 0)


def add_entry(store: Store, plate: str = "ABC123") -> int:
    fields = dict(
        plate=plate,
        category="stolen-vehicle",
        case_number="26-7",
        reason="stolen",
        requested_by="Det. Ray",
        contact="dispatch",
        instructions="verify",
        expires=FUTURE,
    )
    return store.add_hotlist_entry(make_entry(fields, "local"), "sgt.ortiz", status="approved")


def test_open_hits_stay_listed_after_their_read_is_purged(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    path = write_config(tmp_path)
    team = make_team(path)
    config = load(path)
    store = Store(config.data_dir)
    entry = add_entry(store)
    old = time.time() - 40 * 86400
    open_hit = make_hit(store, make_read(store, captured=old), entry, created=old)
    Syncer(config, store, FileTarget(tmp_path / "store")).purge()
    assert store.connect().execute("SELECT count(*) FROM reads").fetchone()[0] == 0
    code, out, err = team.cli(
        "hits", "list", "--open", "--json", *WHY, "--config", str(path), user="ofc"
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["text"], r["camera"], r["site"]) for r in rows] == [
        (open_hit, "ABC123", "cam-01", "s1")
    ]
    assert rows[0]["captured"] == pytest.approx(old) and rows[0]["entry"]["case_number"] == "26-7"
    (look,) = team.records(kinds=("inquiry",))
    assert (look["user"], look["action"], look["why"], look["result_count"]) == (
        "ofc",
        "hits list",
        "case 26-0042",
        1,
    )


def test_gateway_status_counts_hits_open_too_long(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    path = write_config(tmp_path)
    team = make_team(path)

    def status(*args: str) -> str:
        code, out, err = team.cli("gateway", "status", *args, "--config", str(path), user="tech")
        assert code == 0, err
        return out

    store = Store(load(path).data_dir)
    entry = add_entry(store)
    now = time.time()
    make_hit(store, make_read(store, seed=1), entry, created=now - 13 * 3600)
    make_hit(store, make_read(store, seed=2), entry, created=now - 3600)
    make_hit(store, make_read(store, seed=3), entry, created=now - 20 * 3600, disposition="misread")
    counts = json.loads(status("--json"))
    assert counts["hits_open"] == 2 and counts["hits_open_overdue"] == 1
    assert "1 hits open longer than 12 h" in status()
    path = write_config(tmp_path, extra="[hits]\nopen_alert_hours = 24\n")
    assert json.loads(status("--json"))["hits_open_overdue"] == 0


def test_no_longer_wanted_asks_whether_to_cancel_the_entry(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    path = str(write_config(tmp_path))
    team = make_team(Path(path))
    team.add("sgt", "officer", "manager")  # may also cancel hot-list entries
    store = Store(load(path).data_dir)
    entry = add_entry(store)
    hits = [make_hit(store, make_read(store, seed=i), entry) for i in range(3)]
    for hit in hits:  # a hit is closed only after its check is recorded
        hit_events.verify(store, hit, "ofc", "NCIC", "not-wanted", "cleared")
    nlw = ("--status", "no-longer-wanted", "--note", "warrant served")

    def dispose(hit: int, *extra: str, user: str = "ofc") -> tuple[int, str, str]:
        return team.cli("hits", "disposition", str(hit), *extra, "--config", path, user=user)

    def disposed() -> int:
        sql = "SELECT count(*) FROM hits WHERE disposition IS NOT NULL"
        return int(store.connect().execute(sql).fetchone()[0])

    code, _, err = dispose(hits[0], *nlw[2:], "--status", "misread", "--cancel-entry")
    assert code == 2 and "only with --status no-longer-wanted" in err
    # a script must say which: nothing is recorded otherwise
    code, _, err = dispose(hits[0], *nlw)
    assert code == 2 and "--cancel-entry or --keep-entry" in err
    # cancelling the entry is a hot-list change: an officer alone may not, and nothing is recorded
    code, _, err = dispose(hits[0], *nlw, "--cancel-entry")
    assert code == 2 and "may not hotlist.approve" in err
    assert disposed() == 0 and team.records(kinds=("change",)) == []

    code, out, err = dispose(hits[0], *nlw, "--keep-entry")
    assert code == 0 and "stays active" in out, err
    assert store.hotlist_rows()[0]["id"] == entry
    row = store.connect().execute("SELECT * FROM hits WHERE id=?", (hits[0],)).fetchone()
    assert row["disposition_user"] == "ofc"
    (change,) = team.records(kinds=("change",))
    assert (change["user"], change["action"], change["why"]) == (
        "ofc",
        "hits disposition",
        "no-longer-wanted",
    )
    assert json.loads(change["what"])["hit"] == hits[0]

    # on a terminal, the question is asked
    master, slave = os.openpty()
    command = ["hits", "disposition", str(hits[1]), *nlw, "--config", path]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", *command],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=team.env("sgt"),
    )
    os.close(slave)
    os.write(master, b"y\n")
    stdout, stderr = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, stderr
    assert f"cancelled entry {entry}" in stdout
    assert store.hotlist_rows() == []
    history = store.hotlist_history(entry)
    assert [(h["action"], h["user"]) for h in history] == [
        ("approved", "sgt.ortiz"),
        ("cancelled", "sgt"),
    ]
    assert history[1]["reason"] == f"hit {hits[1]} no longer wanted: warrant served"
    actions = [(r["user"], r["action"]) for r in team.records(kinds=("change",))]
    assert actions[1:] == [("sgt", "hits disposition"), ("sgt", "hotlist cancel")]

    # once cancelled, there is nothing left to ask
    code, out, _ = dispose(hits[2], *nlw)
    assert code == 0 and "nothing to cancel" in out


def test_retention_purges_each_kind_and_keeps_open_hits(tmp_path: Path) -> None:
    extra = (
        "[retention]\nalerts_days = 10\nhits_days = 20\nheartbeats_days = 5\n"
        "access_log_plates_days = 30\naccess_log_days = 100\n"
    )
    path = write_config(tmp_path, extra=extra)
    config = load(path)
    store = Store(config.data_dir)
    db = store.connect()
    now = time.time()
    day = 86400.0
    entry = add_entry(store)

    def hit(age_days: float, disposition: str | None = None) -> int:
        hit_id = make_hit(store, make_read(store), entry, now - age_days * day, disposition)
        db.execute(
            "INSERT INTO alerts (hit_id, target, payload, next_at, delivered_at)"
            " VALUES (?, '0:log', '{\"plate\": \"ABC123\"}', 0, 1)",
            (hit_id,),
        )
        return hit_id

    young, alert_old, hit_old, open_old = (
        hit(5, "confirmed"),
        hit(15, "misread"),
        hit(25, "other"),
        hit(400),
    )
    for age in (2, 6):
        db.execute(
            "INSERT INTO heartbeats (camera, received, body) VALUES ('cam-01', ?, '{}')",
            (now - age * day,),
        )
    for age in (10, 40, 120):
        store.add_query_detail("kim", "reads list", "case 1", {"plate": "ABC123", "limit": 5}, 1)
        db.execute("UPDATE access_log SET at=? WHERE id=last_insert_rowid()", (now - age * day,))

    Syncer(config, store, FileTarget(tmp_path / "store")).purge(now)

    alerts = {r[0] for r in db.execute("SELECT hit_id FROM alerts")}
    assert alerts == {young}
    hits = {r[0] for r in db.execute("SELECT id FROM hits")}
    assert hits == {young, alert_old, open_old} and hit_old not in hits
    assert [r[0] for r in db.execute("SELECT received FROM heartbeats")] == [now - 2 * day]
    log = db.execute(
        "SELECT at, user, reason, query, plates_blanked, nonce FROM access_log ORDER BY at DESC"
    ).fetchall()
    assert [(round((now - r["at"]) / day), json.loads(r["query"])["plate"]) for r in log] == [
        (10, "ABC123"),
        (40, None),
    ]
    assert log[1]["user"] == "kim" and log[1]["reason"] == "case 1"
    assert (
        log[0]["nonce"] and log[1]["nonce"] is None
    )  # the audit record's digest now tells nothing
    assert json.loads(log[1]["query"])["limit"] == 5
    proof = {
        r["reason"]: r["count"]
        for r in db.execute("SELECT reason, count, ids_sha256 FROM purge_log")
        if len(r["ids_sha256"]) == 64
    }
    assert proof == {
        "alert payloads, past alerts_days": 3,
        "hits with a disposition, past hits_days": 1,
        "heartbeats, past heartbeats_days": 1,
        "access-log rows, past access_log_days": 1,
        "access-log plates blanked, past access_log_plates_days": 1,
    }
    # a second pass finds nothing more to do
    assert Syncer(config, store, FileTarget(tmp_path / "store")).purge(now) == 0
