"""Every error a user can cause is one line `alpr: ...` on stderr and exit 2, never a traceback;
a bug still shows its traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from access_helpers import Team
from gateway_helpers import write_config
from sync_helpers import make_read

import tools.ops.gateway_cmd
from gateway.config import load
from gateway.store import Store
from tools import cli

REASON = ("--reason", "case 26-0042")


def alpr(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def one_line_error(out: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command failed as a user error should: exit 2, one `alpr:` line naming the problem."""
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alpr: "), out.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not much of a jpeg \xff\xd9")
    return folder


def test_camera_simulate_with_the_gateway_down(config: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    out = alpr(
        "camera",
        "simulate",
        "--camera",
        "cam-01",
        "--images",
        str(images(tmp_path)),
        "--count",
        "1",
        "--gateway",
        url,
        "--config",
        str(config),
    )
    line = one_line_error(out, f"cannot reach the gateway at {url}", "alpr gateway serve")
    assert "connection refused" in line


def team(config: Path) -> Team:
    t = Team(load(config).data_dir, config.parent / "tokens")
    t.add("tech", "technician")
    t.add("inv", "investigator")
    return t


def test_survey_with_the_gateway_down(config: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    out = team(config).run(
        "survey", "--camera", "cam-01", "--gateway", url, "--config", str(config), user="tech"
    )
    one_line_error(out, f"cannot reach the gateway at {url}", "connection refused")


def test_camera_simulate_with_a_missing_images_folder(config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    out = alpr(
        "camera",
        "simulate",
        "--camera",
        "cam-01",
        "--images",
        str(missing),
        "--config",
        str(config),
    )
    one_line_error(out, str(missing), "does not exist")


def test_power_estimate_given_the_gateway_toml(config: Path) -> None:
    out = alpr("power", "estimate", "--config", str(config))
    one_line_error(out, "TOML", "site config", "alpr provision")


def test_a_missing_or_broken_config_is_one_line(tmp_path: Path) -> None:
    one_line_error(
        alpr("gateway", "status", "--config", str(tmp_path / "nope.toml")), "config error"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("x = [\n")
    one_line_error(alpr("gateway", "status", "--config", str(bad)), "not valid TOML")


def test_a_boundary_that_is_a_json_array_is_named(config: Path, tmp_path: Path) -> None:
    (tmp_path / "boundary.geojson").write_text("[[-88.1, 40.0], [-88.0, 40.1], [-88.2, 40.1]]")
    text = config.read_text().replace(
        'name = "Test PD"', 'name = "Test PD"\nboundary = "boundary.geojson"'
    )
    config.write_text(text)
    out = alpr("sites", "check", "--config", str(config))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "boundary.geojson: the file is an array, not a GeoJSON object" in out.stdout + out.stderr


def test_plate_search_normalises_and_says_when_nothing_matches(config: Path) -> None:
    users = team(config)
    store = Store(load(config).data_dir)
    make_read(store, text="ABC123", captured=time.time() - 60)
    search = ("reads", "list", *REASON, "--config", str(config), "--plate")
    for asked in ("abc 123", "ABC-123", " abc-1?3 "):  # in this process: quicker
        code, out, err = users.cli(*search, asked, "--json", user="inv")
        assert code == 0, err
        assert [json.loads(line)["text"] for line in out.splitlines()] == ["ABC123"]
    code, out, err = users.cli(*search, "zzz 999", user="inv")
    assert code == 0 and out == "" and "no reads match plate ZZZ999" in err
    run = users.run(*search, "zzz-999", "--json", user="inv")
    assert run.returncode == 0 and run.stdout == ""  # valid (empty) JSON lines
    assert run.stderr.strip() == "no reads match plate ZZZ999"


def test_verbose_adds_the_traceback(config: Path) -> None:
    out = alpr("-v", "power", "estimate", "--config", str(config))
    assert out.returncode == 2 and "Traceback" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("alpr: ")


def test_a_bug_keeps_its_traceback(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> dict[str, int]:
        raise KeyError("a bug")

    monkeypatch.setattr(tools.ops.gateway_cmd, "open_store", broken)
    with pytest.raises(KeyError):
        cli.main(
            ["gateway", "backup", "--out", str(config.parent / "b.db"), "--config", str(config)]
        )


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (FileNotFoundError(2, "No such file or directory", "x.csv"), "x.csv: no such file"),
        (PermissionError(13, "Permission denied", "/etc/alpr"), "/etc/alpr: permission denied"),
        (IsADirectoryError(21, "Is a directory", "site"), "site: is a directory"),
        (json.JSONDecodeError("Expecting value", "{", 1), "not valid JSON (Expecting value"),
        (ConnectionRefusedError(111, "Connection refused"), "cannot connect: connection refused"),
    ],
)
def test_expected_error_types_are_one_line(
    error: Exception,
    line: str,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fails(*_: object) -> dict[str, int]:
        raise error

    monkeypatch.setattr(tools.ops.gateway_cmd, "open_store", fails)
    out = config.parent / "b.db"
    assert cli.main(["gateway", "backup", "--out", str(out), "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alpr: ") and line in err and "\n" not in err and "Traceback" not in err
