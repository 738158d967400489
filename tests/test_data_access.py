"""Every command that touches ALPR data acts as the logged-in user: refused without a login, to a
role the permission table does not name, and to a user whose training ran out; a look is in the
audit log under the name from the token, never from a flag."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import SECRET, scene_jpeg, serve_ingest, write_config
from sync_helpers import make_hit, make_read

from gateway.access import audit
from gateway.access.db import AccessDB
from gateway.access.roles import permissions
from gateway.config import load
from gateway.hotlist import make_entry
from gateway.store import Store
from tools.cli import main
from tools.field.camera_sim import CameraClient

ENTRY = dict(
    plate="ABC123",
    category="stolen-vehicle",
    case_number="26-7",
    reason="stolen",
    requested_by="Det. Ray",
    contact="dispatch",
    instructions="verify",
    expires="2099-01-01",
)
MANUAL = [
    f"--{k.replace('_', '-')}={v}" for k, v in ENTRY.items() if k not in ("plate", "requested_by")
] + ["--request-ref=memo 26-1"]


def commands(hit: int, entry: int, hotlist_file: Path) -> list[tuple[str, list[str], str]]:
    """(action checked, command line, a logged-in user whose roles lack that action)."""
    return [
        ("reads.recent", ["reads", "list", "--reason", "case 1"], "tech"),
        ("hits.view", ["hits", "list", "--reason", "case 1"], "tech"),
        (
            "hits.disposition",
            ["hits", "disposition", str(hit), "--status", "confirmed", "--note", "seen"],
            "mgr",
        ),
        ("hotlist.request", ["hotlist", "add", "XYZ789", *MANUAL], "tech"),
        ("hotlist.approve", ["hotlist", "approve", str(entry)], "ofc"),
        ("hotlist.approve", ["hotlist", "reject", str(entry), "--reason", "no memo"], "inv"),
        ("hotlist.approve", ["hotlist", "approve-source", "x"], "ofc"),
        ("hotlist.view", ["hotlist", "sources"], "tech"),
        (
            "hits.disposition",
            ["hits", "verify", str(hit), "--system", "NCIC", "--result", "confirmed"],
            "mgr",
        ),
        ("hits.disposition", ["hits", "outcome", str(hit), "--actionable", "yes"], "tech"),
        ("hits.view", ["hits", "history", str(hit), "--reason", "case 1"], "tech"),
        (
            "hits.export",
            ["hits", "export", "--reason", "monthly", "--from", "0", "--to", "1", "--csv", "x"],
            "ofc",
        ),
        ("hotlist.approve", ["hotlist", "remove", str(entry), "--reason", "recovered"], "inv"),
        ("hotlist.approve", ["hotlist", "import", str(hotlist_file), "--source", "x"], "ofc"),
        ("hotlist.view", ["hotlist", "list"], "tech"),
        ("hotlist.view", ["hotlist", "history", str(entry)], "tech"),
        ("hotlist.view", ["hotlist", "lint"], "aud"),
        ("cameras.view", ["cameras", "status"], "ofc"),
        ("gateway.status", ["gateway", "status"], ""),  # every role may: no one to refuse
        (
            "survey",
            ["survey", "--camera", "cam-01", "--gateway", "http://127.0.0.1:9", "--limit", "1"],
            "inv",
        ),
    ]


def test_every_data_command_is_refused_without_login_right_or_training(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = write_config(tmp_path)
    team = make_team(config)
    store = Store(load(config).data_dir)
    entry = store.add_hotlist_entry(make_entry(ENTRY, "local"), "sgt.ortiz")
    hit = make_hit(store, make_read(store), entry)
    csv = tmp_path / "list.csv"
    csv.write_text(",".join(ENTRY) + "\n" + ",".join(ENTRY.values()).replace("ABC123", "DEF456"))
    hotlist_before = [dict(r) for r in store.hotlist_rows()]
    table = permissions()

    for action, argv, lacking in commands(hit, entry, csv):
        line = [*argv, "--config", str(config)]
        code, out, err = team.cli(*line, user=None)
        assert code != 0 and "not logged in" in err, line
        code, out, err = team.cli(*line, user="lapsed")
        assert code != 0 and "training is not current" in err, line
        if lacking:
            code, out, err = team.cli(*line, user=lacking)
            assert code != 0 and f"may not {action}" in err, line
            denied = team.records(lacking, kinds=("denied",))[-1]
            assert json.loads(denied["what"])["action"] == action
            typed = " ".join(w for w in argv[:2] if not w.startswith("-"))
            assert json.loads(denied["what"])["command"] == typed
        else:
            assert table[action] >= {"officer", "investigator", "manager", "technician"}
        assert "ABC123" not in out

    # nothing was looked at or changed
    assert team.records(kinds=("inquiry", "view", "change")) == []
    assert [dict(r) for r in store.hotlist_rows()] == hotlist_before
    row = store.connect().execute("SELECT disposition FROM hits").fetchone()
    assert row["disposition"] is None
    assert store.connect().execute("SELECT count(*) FROM hit_events").fetchone()[0] == 0


def test_the_name_comes_from_the_token_not_from_a_flag(
    tmp_path: Path, make_team: Callable[[Path], Team], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    team = make_team(config)
    make_read(Store(load(config).data_dir))
    with pytest.raises(SystemExit):  # there is no --user to claim another name
        main(["reads", "list", "--reason", "x", "--user", "boss", "--config", str(config)])
    assert "unrecognized arguments: --user boss" in capsys.readouterr().err
    code, _, err = team.cli(
        "reads", "list", "--reason", "case 9", "--config", str(config), user="inv"
    )
    assert code == 0, err
    (look,) = team.records(kinds=("inquiry",))
    assert (look["user"], look["why"], look["result_count"]) == ("inv", "case 9", 1)
    assert look["at"] <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1))


def test_survey_through_the_gateway_is_recorded(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    path = write_config(tmp_path)
    team = make_team(path)
    config = load(path)
    with serve_ingest(config) as (url, _):
        client = CameraClient(url, "cam-01", SECRET.encode())
        assert client.send_event(1, [scene_jpeg("ABC123")])[0] == 201
        client.close()
        code, out, err = team.cli(
            *("survey", "--camera", "cam-01", "--gateway", url, "--config", str(path)),
            *("--report", str(tmp_path / "survey.html"), "--limit", "5"),
            user="tech",
        )
    assert code in (0, 1) and "proposed hints" in out, err
    views = team.records(kinds=("view",))
    # the gateway records the camera's answer to the survey; the CLI records the technician's look
    assert sorted(v["user"] for v in views) == ["camera:cam-01", "tech"]
    (look,) = [v for v in views if v["user"] == "tech"]
    assert (look["action"], look["result_count"]) == ("survey", 1)
    assert json.loads(look["what"])["camera"] == "cam-01"


def test_the_demo_logs_in_its_own_user_in_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.common import demo_config
    from tools.demo import demo_login

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALPR_TOKEN_FILE", str(tmp_path / "someone-elses-token"))
    config = demo_config()
    workdir = tmp_path / "build" / "demo"
    assert demo_login(config, workdir) == "demo"
    for name in ("token", "demo-password"):
        assert (workdir / name).stat().st_mode & 0o077 == 0
    make_read(Store(config.data_dir), site=next(iter(config.cameras.values())).site)
    assert main(["--demo", "reads", "list", "--reason", "demo", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    (look,) = audit.records(AccessDB(config.data_dir), kinds=("inquiry",))
    assert (look["user"], look["result_count"]) == ("demo", 1)
