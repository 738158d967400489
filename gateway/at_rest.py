"""Is the data folder on an encrypted block device? A best-effort check for a startup warning.

The gateway's SQLite holds reads and NCIC hot-list data; the product does not encrypt it itself
(no SQLCipher), so the disk must (docs/operations.md). The check finds the device mounted under the
folder (/proc/self/mounts) and asks `lsblk` for its type and the types below it: a `crypt` layer
anywhere (LUKS/dm-crypt, also under LVM) counts as encrypted. It never fails the service: when the
answer cannot be known (no lsblk, a container's overlay, a network share) it says so instead.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("alpr.at_rest")

MOUNTS = Path("/proc/self/mounts")


def _unescape(field: str) -> str:
    """/proc/mounts writes a space as \\040, a tab as \\011, a backslash as \\134."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_source(path: Path, mounts_text: str) -> str | None:
    """The device (first field) of the deepest mount point that contains path."""
    best: tuple[int, str] | None = None
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        source, point = _unescape(fields[0]), Path(_unescape(fields[1]))
        if path == point or point in path.parents:
            depth = len(point.parts)
            if best is None or depth >= best[0]:  # a later mount over the same point wins
                best = (depth, source)
    return best[1] if best else None


def types_say_encrypted(lsblk_types: str) -> bool:
    """lsblk -s -n -o TYPE lists the device and every device below it; one `crypt` suffices."""
    return "crypt" in lsblk_types.split()


def data_dir_encrypted(data_dir: Path) -> tuple[bool | None, str]:
    """(True, device), (False, device), or (None, why it cannot be told)."""
    try:
        mounts = MOUNTS.read_text()
    except OSError as exc:
        return None, f"cannot read {MOUNTS}: {exc.strerror}"
    source = mount_source(Path(os.path.realpath(data_dir)), mounts)
    if source is None or not source.startswith("/dev/"):
        return None, f"{data_dir} is on {source or 'an unknown mount'}, not a block device"
    lsblk = shutil.which("lsblk")
    if lsblk is None:
        return None, "lsblk is not installed"
    try:
        out = subprocess.run(
            [lsblk, "-s", "-n", "-o", "TYPE", source],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"lsblk failed: {exc}"
    if out.returncode != 0:
        return None, f"lsblk {source}: {out.stderr.strip() or out.returncode}"
    return types_say_encrypted(out.stdout), source


def warn_if_unencrypted(data_dir: Path) -> None:
    """Log a warning when the data folder is known to be on an unencrypted disk; never raises."""
    try:
        encrypted, detail = data_dir_encrypted(data_dir)
    except Exception as exc:  # a check that helps must never stop the service
        log.info("could not tell whether %s is encrypted: %s", data_dir, exc)
        return
    if encrypted is None:
        log.info("could not tell whether %s is on an encrypted disk: %s", data_dir, detail)
    elif not encrypted:
        log.warning(
            "data_dir %s is on %s, which has no dm-crypt/LUKS layer: reads and hot-list (NCIC) "
            "data are stored unencrypted at rest unless the disk is encrypted in another way "
            "(self-encrypting drive, fscrypt, ZFS encryption); see docs/operations.md",
            data_dir,
            detail,
        )
