"""A first run outside a deployment's folder: a clear error, never the demo config by surprise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def alpr(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "ALPR_CONFIG"}
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_config_is_an_error_naming_where_it_looked(tmp_path: Path) -> None:
    out = alpr(tmp_path, "gateway", "status")
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    for place in ("--config", "$ALPR_CONFIG", "./alpr.toml", "alpr init"):
        assert place in lines[0]
    assert list(tmp_path.iterdir()) == [], "nothing is created on a failed start"


def test_named_config_that_is_missing_is_named(tmp_path: Path) -> None:
    out = alpr(tmp_path, "gateway", "status", env={"ALPR_CONFIG": str(tmp_path / "nope.toml")})
    assert out.returncode != 0 and "nope.toml" in out.stderr and "Traceback" not in out.stderr


def test_demo_flag_uses_the_embedded_config_under_build_demo(tmp_path: Path) -> None:
    out = alpr(tmp_path, "--demo", "gateway", "status", "--json")
    # the demo's own login, made by `alpr demo`, is looked for in the demo's folder
    assert out.returncode != 0 and "not logged in to the demo: run `alpr demo`" in out.stderr
    assert (tmp_path / "build" / "demo" / "var" / "gateway" / "access.db").is_file()
    assert not (tmp_path / "var").exists()
