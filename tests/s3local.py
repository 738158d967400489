"""Run a real local S3 server (Ceph RADOS Gateway via ``tools/s3-local``) from pytest.

Why a real server: moto and friends accept whatever we send, so they cannot tell us
whether Object Lock, lifecycle expiry or a checksum header actually does anything.
RGW is the S3 that an on-premises box runs, so tests against it check the same code
paths that a technician's deployment will use.

The helpers only drive the bash script; all Ceph knowledge lives there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "s3-local"

# Exit status of tools/s3-local when the Ceph packages are missing and cannot be
# installed (EX_UNAVAILABLE): the caller should skip rather than fail.
EXIT_UNAVAILABLE = 69

# A first start may install ~250 MB of packages with apt; a restart takes seconds.
START_TIMEOUT_S = 900
STOP_TIMEOUT_S = 180


class S3Info(TypedDict):
    """What ``start`` writes to DATA_DIR/s3.json."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str
    # the least-privilege role users (alpr-gateway, alpr-evidence) that start creates
    gateway_access_key: NotRequired[str]
    gateway_secret_key: NotRequired[str]
    gateway_principal: NotRequired[str]
    evidence_access_key: NotRequired[str]
    evidence_secret_key: NotRequired[str]
    evidence_principal: NotRequired[str]


class S3LocalError(RuntimeError):
    """The script failed; ``unavailable`` is true when Ceph simply is not installable here."""

    def __init__(self, message: str, returncode: int, stderr: str) -> None:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        super().__init__(f"{message} (exit {returncode}):\n{tail}")
        self.returncode = returncode
        self.stderr = stderr

    @property
    def unavailable(self) -> bool:
        return self.returncode == EXIT_UNAVAILABLE


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the script and raise with its stderr tail: the cause is always in the last lines."""
    cmd = [str(SCRIPT), *args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=os.environ.copy()
        )
    except FileNotFoundError as exc:  # bash missing, or the script is not executable
        raise S3LocalError(f"cannot run {SCRIPT}: {exc}", 127, "") from exc
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise S3LocalError(f"{' '.join(cmd)} timed out after {timeout:.0f}s", 124, err) from exc
    if proc.returncode != 0:
        raise S3LocalError(f"{' '.join(cmd)} failed", proc.returncode, proc.stderr)
    return proc


def _read_info(data_dir: Path) -> S3Info:
    raw = json.loads((Path(data_dir) / "s3.json").read_text())
    info = S3Info(
        endpoint=str(raw["endpoint"]),
        access_key=str(raw["access_key"]),
        secret_key=str(raw["secret_key"]),
        region=str(raw["region"]),
    )
    for role in ("gateway", "evidence"):
        for part in ("access_key", "secret_key", "principal"):
            if f"{role}_{part}" in raw:
                info[f"{role}_{part}"] = str(raw[f"{role}_{part}"])  # type: ignore[literal-required]
    return info


def start_s3_local(
    data_dir: Path | str, lc_debug_interval: int = 10, port: int | None = None
) -> S3Info:
    """Start (or restart with its data) the server in ``data_dir`` and return its endpoint/keys.

    ``lc_debug_interval`` makes a lifecycle "day" last that many seconds, so expiry rules
    can be tested in minutes; 0 turns it off.  ``port`` defaults to a free port, so tests
    never collide with a technician's server on 7480 or with each other.
    """
    args = ["start", str(data_dir), "--lc-debug-interval", str(lc_debug_interval)]
    if port is not None:
        args += ["--port", str(port)]
    elif not (Path(data_dir) / "s3-local.state").exists():
        args += ["--port", str(free_port())]
    _run(args, START_TIMEOUT_S)
    return _read_info(Path(data_dir))


def stop_s3_local(data_dir: Path | str) -> None:
    """Stop all three daemons, keeping the data (memstore saves it on a clean stop)."""
    if Path(data_dir).is_dir():
        _run(["stop", str(data_dir)], STOP_TIMEOUT_S)


def kill_s3_local(data_dir: Path | str) -> None:
    """Stop all three daemons at once: for a store whose data is thrown away anyway (memstore
    spends tens of seconds saving itself on a clean stop)."""
    if Path(data_dir).is_dir():
        _run(["kill", str(data_dir)], STOP_TIMEOUT_S)


def stop_rgw(data_dir: Path | str) -> None:
    """Stop only the gateway, to test how clients behave when S3 goes away."""
    _run(["stop-rgw", str(data_dir)], STOP_TIMEOUT_S)


def start_rgw(data_dir: Path | str) -> None:
    """Start the gateway again on its old port; the cluster and its data are untouched."""
    _run(["start-rgw", str(data_dir)], START_TIMEOUT_S)


def free_port() -> int:
    """A port that was free a moment ago (the usual small race is acceptable in tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_client(info: S3Info, *, max_attempts: int = 3, read_timeout: float = 30.0) -> S3Client:
    """One boto3 client with every setting explicit, so tests do not depend on ~/.aws.

    Path-style addressing because RGW on 127.0.0.1 has no wildcard DNS for virtual hosts;
    SigV4 because that is what AWS requires; few retries and short timeouts so that a
    stopped gateway shows up as an error in seconds instead of hanging the test run.
    """
    config = Config(
        region_name=info["region"],
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout,
    )
    return boto3.client(
        "s3",
        endpoint_url=info["endpoint"],
        aws_access_key_id=info["access_key"],
        aws_secret_access_key=info["secret_key"],
        config=config,
    )


def role_info(info: S3Info | dict[str, str], role: str) -> S3Info:
    """The same server under a role user's keys (role: "gateway" or "evidence")."""
    raw = dict(info)
    return S3Info(
        endpoint=str(raw["endpoint"]),
        access_key=str(raw[f"{role}_access_key"]),
        secret_key=str(raw[f"{role}_secret_key"]),
        region=str(raw["region"]),
    )
