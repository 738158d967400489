"""`alpr init` writes a deployment that loads and passes its site check; so does the shipped example."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import load
from gateway.hotlist import parse
from tools.ops.init_cmd import init

REPO = Path(__file__).resolve().parents[1]


def sites_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", "sites", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_init_writes_a_deployment_that_loads_and_checks(tmp_path: Path) -> None:
    folder = tmp_path / "county"
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "init", str(folder), "--agency", 'Doe "County" SO'],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    config = load(folder / "alpr.toml")
    assert config.agency == 'Doe "County" SO'
    assert len(config.secret("cam-01")) == 64
    assert stat.S_IMODE((folder / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "secrets" / "cam-01.key").stat().st_mode) == 0o600
    entries, errors = parse(config.hotlists[0].path.read_text(), "local", "csv")
    assert entries == [] and errors == []
    assert config.boundary is not None and config.boundary.is_file()
    text = (folder / "alpr.toml").read_text()
    for optional in ("# retention_days = 30", "# reader_workers = 1", "# [logging]"):
        assert optional in text
    check = sites_check(folder / "alpr.toml")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 errors" in check.stdout


def test_init_never_overwrites(tmp_path: Path) -> None:
    init(tmp_path, "A", 40.0, -88.0)
    before = (tmp_path / "alpr.toml").read_text()
    key = (tmp_path / "secrets" / "cam-01.key").read_text()
    with pytest.raises(SystemExit, match="already exists"):
        init(tmp_path, "B", 41.0, -87.0)
    assert (tmp_path / "alpr.toml").read_text() == before
    assert (tmp_path / "secrets" / "cam-01.key").read_text() == key


def test_county_example_passes_its_site_check() -> None:
    config = load(REPO / "examples" / "county" / "alpr.toml")
    assert len(config.sites) == 3 and len(config.cameras) == 2 and config.neighbours
    assert all(c.secret_ref.startswith("file:") for c in config.cameras.values())
    assert all("EXAMPLE" in c.secret_ref for c in config.cameras.values())
    entries, errors = parse(config.hotlists[0].path.read_text(), "county", "csv")
    assert len(entries) == 2 and errors == []
    check = sites_check(REPO / "examples" / "county" / "alpr.toml")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 errors, 0 warnings" in check.stdout
