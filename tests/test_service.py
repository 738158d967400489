"""`alpr service install`, the `[logging]` targets and `alpr completion` for bash."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load
from tools.cli import build_parser
from tools.completion import bash_script
from tools.ops.init_cmd import init
from tools.ops.logsetup import configure_logging

REPO = Path(__file__).resolve().parents[1]


def alpr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def deployment(tmp_path: Path, logging_toml: str = "") -> Path:
    config = init(tmp_path / "dep", "Test SO", 40.0, -88.0)
    config.write_text(config.read_text() + logging_toml)
    return config


def test_install_writes_a_confined_unit_and_logrotate(tmp_path: Path) -> None:
    config = deployment(tmp_path, '\n[logging]\ntarget = "file"\nfile = "log/alpr.log"\n')
    root = tmp_path / "root"
    out = alpr("service", "install", "--config", str(config), "--root", str(root))
    assert out.returncode == 0, out.stderr
    unit = (root / "etc/systemd/system/alpr-gateway.service").read_text()
    folder = config.parent.resolve()
    for line in (
        "User=alpr",
        "ProtectSystem=strict",
        "Restart=on-failure",
        f"ReadWritePaths={folder}/var/gateway {folder}/var/store {folder}/log",
        f"gateway serve --config {config.resolve()}",
    ):
        assert line in unit.splitlines() or line in unit, line
    assert "u alpr -" in (root / "etc/sysusers.d/alpr-gateway.conf").read_text()
    assert (
        f"d {folder}/var/gateway 0750 alpr alpr"
        in (root / "etc/tmpfiles.d/alpr-gateway.conf").read_text()
    )
    rotate = (root / "etc/logrotate.d/alpr-gateway").read_text()
    assert f"{folder}/log/alpr.log {{" in rotate and "create 0640 alpr alpr" in rotate
    again = alpr("service", "install", "--config", str(config), "--root", str(root))
    assert again.returncode == 1 and "already there" in again.stderr
    if shutil.which("systemd-analyze"):
        check = subprocess.run(
            ["systemd-analyze", "verify", "./alpr-gateway.service"],
            cwd=root / "etc/systemd/system",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr


def test_print_writes_nothing_and_journald_needs_no_logrotate(tmp_path: Path) -> None:
    config = deployment(tmp_path, '\n[logging]\ntarget = "journald"\n')
    out = alpr("service", "install", "--config", str(config), "--print", "--user", "lpr")
    assert out.returncode == 0, out.stderr
    assert "User=lpr" in out.stdout and "SyslogLevelPrefix=yes" in out.stdout
    assert "logrotate" not in out.stdout and "systemctl enable --now alpr-gateway" in out.stdout


def test_logging_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"logging\.target"):
        load(deployment(tmp_path / "a", '\n[logging]\ntarget = "syslog"\n'))
    with pytest.raises(ConfigError, match=r"logging\.file"):
        load(deployment(tmp_path / "b", '\n[logging]\ntarget = "file"\n'))
    config = load(deployment(tmp_path / "c", '\n[logging]\ntarget = "file"\nfile = "l/a.log"\n'))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        assert config.logging_file is not None
        configure_logging(config.logging_target, config.logging_file)
        logging.getLogger("alpr.test").warning("to the file")
        config.logging_file.rename(config.logging_file.with_suffix(".1"))  # logrotate moves it
        logging.getLogger("alpr.test").warning("after rotation")
        assert "to the file" in config.logging_file.with_suffix(".1").read_text()
        assert "after rotation" in config.logging_file.read_text()
        configure_logging("journald", None)
        logging.getLogger("alpr.test").error("journal line")
        assert "<3>alpr.test: journal line" in capsys.readouterr().err
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:], root.level = saved[0], saved[1]


def complete(script: Path, *words: str) -> list[str]:
    line = " ".join(words)
    cmd = (
        f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        '_alpr_complete; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_bash_completion_follows_the_parser(tmp_path: Path) -> None:
    script = tmp_path / "alpr.bash"
    script.write_text(bash_script(build_parser()))
    assert {"init", "service", "emulator", "hotlist", "completion"} <= set(
        complete(script, "alpr", "''")
    )
    assert complete(script, "alpr", "emul") == ["emulator"]
    assert set(complete(script, "alpr", "emulator", "''")) >= {"start", "trigger", "adc", "stop"}
    assert "--battery" in complete(script, "alpr", "emulator", "adc", "--b")
    assert complete(script, "alpr", "--config", "x.toml", "hotlist", "imp") == ["import"]
    (tmp_path / "alpr.toml").touch()
    assert complete(script, "alpr", "hotlist", "list", "--config", str(tmp_path / "alpr.t")) == [
        str(tmp_path / "alpr.toml")
    ]
