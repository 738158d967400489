"""Hit outcomes: an append-only history, verification before closing, outcome fields, overdue hits
alerted once, and the CSV export for the records system."""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import write_config
from sync_helpers import make_hit, make_read
from test_records import add_entry

from gateway import feeds, hit_events
from gateway.config import load
from gateway.retention import purge_records
from gateway.store import RefusedError, Store


@pytest.fixture
def hits_env(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> tuple[Path, Team, Store, list[int]]:
    config = write_config(tmp_path)
    team = make_team(config)
    store = Store(load(config).data_dir)
    entry = add_entry(store)
    now = time.time()
    hits = [
        make_hit(store, make_read(store, seed=1), entry, created=now - 20 * 3600),
        make_hit(store, make_read(store, seed=2), entry, created=now - 3600),
    ]
    return config, team, store, hits


def test_a_hit_cannot_be_closed_without_verification(
    hits_env: tuple[Path, Team, Store, list[int]],
) -> None:
    config, team, store, hits = hits_env

    def hits_cli(*args: str) -> tuple[int, str, str]:
        return team.cli("hits", *args, "--config", str(config), user="ofc")

    code, _, err = hits_cli("disposition", str(hits[0]), "--status", "confirmed", "--note", "x")
    assert code == 2 and "no verification record" in err
    with pytest.raises(RefusedError, match="no verification record"):
        hit_events.dispose(store, hits[0], "ofc", "confirmed", "x")
    # the store itself refuses it, whoever writes
    with pytest.raises(sqlite3.IntegrityError, match="only after a verification record"):
        store.connect().execute(
            "INSERT INTO hit_events (hit_id, at, user, kind, status) VALUES (?,?,?,?,?)",
            (hits[0], time.time(), "x", "disposition", "confirmed"),
        )
    assert store.connect().execute("SELECT disposition FROM hits").fetchone()[0] is None

    code, out, err = hits_cli(
        "verify", str(hits[0]), "--system", "MULES", "--result", "deferred", "--note", "down"
    )
    assert code == 0 and "checked in MULES: deferred" in out, err
    code, _, err = hits_cli("verify", str(hits[0]), "--system", " ", "--result", "confirmed")
    assert code == 2 and "name the system" in err
    code, _, err = hits_cli("disposition", str(hits[0]), "--status", "confirmed", "--note", "ok")
    assert code == 0, err
    checked = hit_events.verification(store, hits[0])
    assert checked is not None
    assert (checked["system"], checked["status"], checked["user"]) == ("MULES", "deferred", "ofc")


def test_disposition_history_cannot_be_rewritten(
    hits_env: tuple[Path, Team, Store, list[int]],
) -> None:
    config, team, store, hits = hits_env
    hit = hits[0]
    hit_events.verify(store, hit, "ofc", "NCIC", "confirmed")
    hit_events.dispose(store, hit, "ofc", "not-located", "gone before units arrived")
    hit_events.dispose(store, hit, "inv", "confirmed", "stopped next day")
    row = store.connect().execute("SELECT * FROM hits WHERE id=?", (hit,)).fetchone()
    assert (row["disposition"], row["disposition_user"]) == ("confirmed", "inv")
    kinds = [(e["kind"], e["status"]) for e in hit_events.history(store, hit)]
    assert kinds == [
        ("verification", "confirmed"),
        ("disposition", "not-located"),
        ("disposition", "confirmed"),
    ]
    # there is no call that edits an event; SQL that tries is refused by the triggers
    db = store.connect()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE hit_events SET status='misread' WHERE hit_id=?", (hit,))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM hit_events WHERE hit_id=?", (hit,))
    with pytest.raises(sqlite3.IntegrityError, match="never rewritten in hits"):
        db.execute("UPDATE hits SET disposition='misread' WHERE id=?", (hit,))
    with pytest.raises(sqlite3.IntegrityError, match="never rewritten in hits"):
        db.execute("UPDATE hits SET disposition=NULL WHERE id=?", (hit,))
    assert [(e["kind"], e["status"]) for e in hit_events.history(store, hit)] == kinds

    code, out, err = team.cli(
        "hits",
        "history",
        str(hit),
        "--json",
        "--reason",
        "review",
        "--config",
        str(config),
        user="inv",
    )
    assert code == 0, err
    assert [json.loads(line)["status"] for line in out.splitlines()] == [s for _, s in kinds]

    # retention removes a closed hit after hits_days, and its history with it
    purge_records(store, load(config).retention, time.time() + 400 * 86400)
    assert (
        store.connect().execute("SELECT count(*) FROM hits WHERE id=?", (hit,)).fetchone()[0] == 0
    )
    assert hit_events.history(store, hit) == []
    assert len(store.connect().execute("SELECT * FROM hits").fetchall()) == 1  # the open one stays


def test_outcome_fields_and_export_for_the_records_system(
    hits_env: tuple[Path, Team, Store, list[int]], tmp_path: Path
) -> None:
    config, team, _store, hits = hits_env

    def hits_cli(*args: str, user: str = "ofc") -> tuple[int, str, str]:
        return team.cli("hits", *args, "--config", str(config), user=user)

    outcome = ("outcome", str(hits[0]), "--report-number", "26-4411", "--actionable", "yes")
    code, _, err = hits_cli(*outcome, "--arrest", "yes")
    assert code == 2 and "arrest number" in err
    code, out, err = hits_cli(
        *outcome, "--arrest", "yes", "--arrest-number", "A-77", "--vehicle-recovered", "yes"
    )
    assert code == 0 and "arrest A-77" in out, err
    hits_cli("verify", str(hits[0]), "--system", "NCIC", "--result", "confirmed")
    hits_cli("disposition", str(hits[0]), "--status", "confirmed", "--note", "arrest made")

    out_file = tmp_path / "hits.csv"
    export = ("export", "--from", "2020-01-01", "--to", str(time.time() + 60))
    code, _, err = hits_cli(*export, "--csv", str(out_file), "--reason", "monthly report")
    assert code != 0 and "may not hits.export" in err
    code, out, err = hits_cli(
        *export, "--csv", str(out_file), "--reason", "monthly report", user="inv"
    )
    assert code == 0 and "2 hits written" in out, err
    rows = list(csv.DictReader(out_file.open()))
    first = rows[0]
    assert (first["hit"], first["verified_system"], first["disposition"]) == (
        str(hits[0]),
        "NCIC",
        "confirmed",
    )
    assert (first["report_number"], first["arrest"], first["arrest_number"]) == (
        "26-4411",
        "yes",
        "A-77",
    )
    assert (first["vehicle_recovered"], first["person_located"], first["actionable"]) == (
        "yes",
        "no",
        "yes",
    )
    assert rows[1]["disposition"] == "" and rows[1]["actionable"] == ""
    code, _, err = hits_cli(*export, "--csv", str(out_file), "--reason", "again", user="inv")
    assert code == 2 and "exists" in err
    (look,) = [r for r in team.records(kinds=("inquiry",)) if r["action"] == "hits export"]
    assert look["user"] == "inv" and look["why"] == "monthly report" and look["result_count"] == 2
    changes = [r["action"] for r in team.records("ofc", kinds=("change",))]
    assert changes == ["hits outcome", "hits verify", "hits disposition"]


def test_overdue_hits_are_listed_and_alerted_to_managers_once(
    hits_env: tuple[Path, Team, Store, list[int]],
) -> None:
    config, team, store, hits = hits_env
    code, out, err = team.cli(
        "hits",
        "list",
        "--overdue",
        "--json",
        "--reason",
        "shift",
        "--config",
        str(config),
        user="mgr",
    )
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == [hits[0]]

    loaded = load(config)
    assert feeds.check_overdue(store, loaded, "verify first") == [hits[0]]
    assert feeds.check_overdue(store, loaded, "verify first") == []  # once per hit
    (alert,) = store.connect().execute("SELECT hit_id, payload FROM alerts").fetchall()
    payload = json.loads(alert["payload"])
    assert alert["hit_id"] == hits[0] and payload["type"] == "hit-overdue"
    assert payload["audience"] == "manager" and payload["reminder"] == "verify first"
    assert "open 20.0 h (over 12 h)" in payload["message"]
    assert [e["kind"] for e in hit_events.history(store, hits[0])] == ["overdue-alert"]
    # the next hit alerts when it in turn is overdue
    assert feeds.check_overdue(store, loaded, "v", time.time() + 12 * 3600) == [hits[1]]
