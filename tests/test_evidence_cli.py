"""The evidence, storage and purge-log commands act as the logged-in user: refused without a login,
to a role the table does not name, and with lapsed training; the custody record names the user."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import write_config
from sync_helpers import make_read

from cloud import evidence
from cloud.storage import open_target
from gateway.config import load
from gateway.store import Store

CASE = "26-0042"


def held_site(tmp_path: Path, make_team: Callable[[Path], Team]) -> tuple[Team, Path, str]:
    config = write_config(tmp_path)
    team = make_team(config)
    read_id = make_read(Store(load(config).data_dir))
    return team, config, read_id


def commands(config: Path, read_id: str, out: Path) -> dict[str, tuple[list[str], str]]:
    """Each command, and a logged-in user with a role the table does not name for it."""
    c = ["--config", str(config)]
    return {
        "evidence hold": (
            ["evidence", "hold", read_id, "--case", CASE, "--reason", "robbery", *c],
            "ofc",
        ),
        "evidence release": (["evidence", "release", CASE, "--reason", "closed", *c], "inv"),
        "evidence export": (
            ["evidence", "export", CASE, str(out), "--reason", "discovery", *c],
            "ofc",
        ),
        "purge-log": (["purge-log", *c], "ofc"),
        "cloud init": (["cloud", "init", *c], "mgr"),
        "cloud check": (["cloud", "check", *c], "ofc"),
        "cloud verify-retention": (["cloud", "verify-retention", *c], "tech"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "evidence hold",
        "evidence release",
        "evidence export",
        "purge-log",
        "cloud init",
        "cloud check",
        "cloud verify-retention",
    ],
)
def test_refused_without_login_wrong_role_or_lapsed_training(
    tmp_path: Path, make_team: Callable[[Path], Team], name: str
) -> None:
    team, config, read_id = held_site(tmp_path, make_team)
    team.add("everyone", "admin", "manager", "investigator", "officer", "auditor", "technician")
    team.expire_training("everyone")
    out = tmp_path / "export"
    args, wrong = commands(config, read_id, out)[name]
    store = open_target(load(config).storage.target, base=config.parent)
    before = len(team.records())

    code, _, err = team.cli(*args, user=None)
    assert code != 0 and "not logged in" in err, err
    code, _, err = team.cli(*args, user=wrong)
    assert code != 0 and "refused" in err and "may not" in err, err
    code, _, err = team.cli(*args, user="everyone")
    assert code != 0 and "training is not current" in err, err

    denied = team.records(kinds=("denied",))[-1]
    assert denied["user"] == wrong and json.loads(denied["what"])["command"] == name
    # nothing but the refusal is recorded, and nothing reached the bucket or the export folder
    assert [r["kind"] for r in team.records()[before:]] == ["denied"]
    assert list(store.list("evidence/")) == [] and list(store.list("custody/")) == []
    assert not out.exists() and not (tmp_path / "var" / "store" / ".lifecycle.json").exists()


def test_custody_and_audit_name_the_logged_in_user(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    team, config, read_id = held_site(tmp_path, make_team)
    out = tmp_path / "export"
    cmds = commands(config, read_id, out)
    for name, user in (
        ("evidence hold", "inv"),
        ("evidence export", "inv"),
        ("evidence release", "mgr"),
    ):
        code, stdout, err = team.cli(*cmds[name][0], user=user)
        assert code == 0, err
        assert name != "evidence hold" or "by inv:" in stdout
    store = open_target(load(config).storage.target, base=config.parent)
    trail = [(e["action"], e["user"], e["reason"]) for e in evidence.custody(store, CASE)]
    assert trail[:3] == [
        ("hold", "inv", "robbery"),
        ("export", "inv", "discovery"),
        ("release", "mgr", "closed"),
    ]
    assert json.loads((out / "custody.json").read_text())[0]["user"] == "inv"
    logged = [
        (r["user"], r["action"], r["kind"], r["why"])
        for r in team.records()
        if r["action"].startswith("evidence")
    ]
    assert logged[:3] == [
        ("inv", "evidence hold", "change", "robbery"),
        ("inv", "evidence export", "inquiry", "discovery"),
        ("mgr", "evidence release", "change", "closed"),
    ]
    assert json.loads(team.records(kinds=("inquiry",))[-1]["what"])["case"] == CASE


def test_hold_without_a_reason_records_and_holds_nothing(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    team, config, read_id = held_site(tmp_path, make_team)
    before = len(team.records())
    args = ["evidence", "hold", read_id, "--case", CASE, "--reason", " ", "--config", str(config)]
    code, _, err = team.cli(*args, user="inv")
    assert code == 2 and "needs a reason" in err, err
    assert len(team.records()) == before


@pytest.mark.parametrize(
    ("user", "args"),
    [
        ("boss", ["cloud", "init"]),
        ("aud", ["cloud", "check"]),
        ("mgr", ["cloud", "verify-retention"]),
        ("aud", ["purge-log"]),
    ],
)
def test_storage_commands_for_their_roles(
    tmp_path: Path, make_team: Callable[[Path], Team], user: str, args: list[str]
) -> None:
    config = write_config(tmp_path)
    team = make_team(config)
    if args[-1] == "check":  # the folder's rules must be there to show no drift
        assert team.cli("cloud", "init", "--config", str(config), user="boss")[0] == 0
    code, _, err = team.cli(*args, "--config", str(config), user=user)
    assert code == 0, err
    last = team.records(user=user)[-1]
    assert last["action"] == " ".join(args) and last["kind"] in ("view", "change")
