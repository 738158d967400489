"""A disk that keeps only what was synced: the shim (shim.c) records each fsync under the data
folder, and `rebuild` turns those records back into the folder as a power cut would leave it.

The model: starting from the data folder (which exists), each folder holds exactly the names it held
at its last fsync, and each file holds its content at its last fsync (empty when never synced). A
name never synced into its folder is gone, and so is everything below it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.faults.row import RowUnavailable

ROOT = Path(__file__).resolve().parents[3]
SOURCE = Path(__file__).with_name("shim.c")
BUILD = ROOT / "build"


class NoCompiler(RowUnavailable):
    """No C compiler here to build the shim; the message says which was looked for."""


def build_shim(out_dir: Path = BUILD) -> Path:
    """Compile shim.c into out_dir (again only when the source is newer)."""
    lib = out_dir / "powercut-shim.so"
    if lib.exists() and lib.stat().st_mtime >= SOURCE.stat().st_mtime:
        return lib
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise NoCompiler(
            "the powercut row needs a C compiler (cc or gcc, e.g. Debian's gcc and libc6-dev)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_name(f".{lib.name}.{os.getpid()}")
    proc = subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(SOURCE), "-ldl", "-lpthread"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise NoCompiler(f"{cc} could not build {SOURCE.name}:\n{proc.stderr[-2000:]}")
    tmp.replace(lib)
    return lib


def shim_env(lib: Path, data: Path, shadow: Path, ignore: str = "") -> dict[str, str]:
    """Environment for a process whose syncs under data are recorded into shadow.

    ignore (tests only): an fnmatch pattern of paths relative to data whose syncs are not recorded.
    """
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(p for p in (str(lib), env.get("LD_PRELOAD", "")) if p)
    env["POWERCUT_DATA"] = str(data)
    env["POWERCUT_SHADOW"] = str(shadow)
    env["POWERCUT_IGNORE"] = ignore
    return env


def entries(shadow: Path, key: str) -> list[tuple[str, str, str]]:
    """(type, key, name) of a folder at its last fsync; none when it was never synced."""
    path = shadow / f"dir-{key}"
    if not path.exists():
        return []
    out = []
    for record in path.read_bytes().split(b"\0"):
        if record:
            kind, child, name = record.decode("utf-8", "surrogateescape").split(" ", 2)
            out.append((kind, child, name))
    return out


def sizes(data: Path) -> dict[str, int]:
    """Size of every file under data, by path relative to it."""
    return {str(p.relative_to(data)): p.stat().st_size for p in data.rglob("*") if p.is_file()}


def rebuild(data: Path, shadow: Path) -> dict[str, int]:
    """Empty data, then fill it from the records alone.

    Returns counts for the row's detail: what the rebuilt folder holds, and what the cut took
    (files gone, bytes gone) compared with the folder before it.
    """
    root_record = shadow / "root"
    if not root_record.exists():
        raise RuntimeError(f"the shim did not load (no {root_record}): is LD_PRELOAD honoured?")
    before = sizes(data)
    for child in data.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    counts = {"folders": 0, "files": 0, "empty_files": 0}
    made: dict[str, Path] = {}  # file key -> first path, for hard links

    def fill(folder: Path, key: str) -> None:
        for kind, child, name in entries(shadow, key):
            target = folder / name
            if kind == "d":
                target.mkdir()
                counts["folders"] += 1
                fill(target, child)
            elif kind == "f":
                if child in made:
                    os.link(made[child], target)
                    continue
                content = shadow / f"ino-{child}"
                if content.exists():
                    shutil.copyfile(content, target)
                else:
                    target.touch()
                    counts["empty_files"] += 1
                made[child] = target
                counts["files"] += 1
            else:
                raise RuntimeError(f"{target}: the power-cut model has only files and folders")

    fill(data, root_record.read_text())
    after = sizes(data)
    counts["files_gone"] = len(before.keys() - after.keys())
    counts["bytes_gone"] = sum(max(0, n - after.get(rel, 0)) for rel, n in before.items())
    return counts


SNAPSHOT = """
import os, sys
for top, folders, files in os.walk(sys.argv[1]):
    for name in files + [""]:
        fd = os.open(os.path.join(top, name) if name else top, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
"""


def snapshot(lib: Path, data: Path, shadow: Path) -> None:
    """Start a new record from what data holds now, all of it durable (after a rebuild)."""
    if shadow.exists():
        shutil.rmtree(shadow)
    shadow.mkdir()
    subprocess.run(
        [sys.executable, "-c", SNAPSHOT, str(data)],
        env=shim_env(lib, data, shadow),
        check=True,
        timeout=120,
    )
