"""The powercut row's file layer (tools/faults/powercut): only what was synced survives a cut, and
the row reports losses when the gateway's syncs are taken away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.faults.powercut import cuts
from tools.faults.powercut.disk import NoCompiler, build_shim, rebuild, shim_env, snapshot

WRITER = """
import os, signal, sys
d = sys.argv[1]
def sync(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
os.mkdir(d + "/sub")
a = os.open(d + "/a", os.O_WRONLY | os.O_CREAT)
os.write(a, b"synced")
os.fsync(a)
sync(d)                       # a and sub are in the folder now
os.write(a, b" and more")     # never synced
b = os.open(d + "/b", os.O_WRONLY | os.O_CREAT)
os.write(b, b"b")
os.fdatasync(b)               # b's bytes are synced, its name in d never is
c = os.open(d + "/sub/c", os.O_WRONLY | os.O_CREAT)
os.write(c, b"c")             # c's name is synced, its bytes never are
sync(d + "/sub")
os.rename(d + "/a", d + "/renamed")  # a rename never synced
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_shim(tmp_path_factory.mktemp("build"))
    except NoCompiler as exc:
        pytest.skip(str(exc))


def cut_writer(shim: Path, data: Path, shadow: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(data)], env=shim_env(shim, data, shadow), check=False
    )
    assert proc.returncode == -9


def tree(data: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(data)): p.read_bytes() if p.is_file() else None
        for p in sorted(data.rglob("*"))
    }


def test_cut_keeps_only_what_was_synced(shim: Path, tmp_path: Path) -> None:
    data, shadow = tmp_path / "data", tmp_path / "shadow"
    data.mkdir()
    shadow.mkdir()
    cut_writer(shim, data, shadow)
    assert set(tree(data)) == {"renamed", "b", "sub", "sub/c"}  # the kernel still has it all
    took = rebuild(data, shadow)
    assert tree(data) == {"a": b"synced", "sub": None, "sub/c": b""}
    assert took["files_gone"] == 2 and took["bytes_gone"] == len(b"synced and more") + 1 + 1


def test_snapshot_makes_what_is_there_the_durable_state(shim: Path, tmp_path: Path) -> None:
    """After a rebuild the folder is recorded whole, so that the next cut starts from it."""
    data, shadow = tmp_path / "data", tmp_path / "shadow"
    (data / "sub" / "deeper").mkdir(parents=True)
    (data / "a").write_bytes(b"a" * 10000)
    (data / "sub" / "deeper" / "b").write_bytes(b"b")
    (data / "sub" / "empty").touch()
    before = tree(data)
    snapshot(shim, data, shadow)
    rebuild(data, shadow)  # a cut with nothing written since
    assert tree(data) == before


def test_rebuild_refuses_records_from_no_shim(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="shim did not load"):
        rebuild(tmp_path, tmp_path)


def test_row_reports_losses_when_event_syncs_are_not_recorded(shim: Path) -> None:
    """As if the gateway did not fsync event files (spool/CAMERA/*): acknowledged captures lost."""
    row = cuts(0, ignore="spool/*/*")
    assert row.acknowledged > 0
    assert row.lost == row.acknowledged, row
