"""Shared fixtures: the development data, which a fresh clone does not have."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.train.data import data_dir


@pytest.fixture(scope="session")
def dev_data() -> Path:
    root = data_dir()
    if not (root / "crops" / "labels.csv").is_file():
        pytest.skip(f"development data not found at {root} (set ALPR_DATA to use another copy)")
    return root


RGW_LC_DAY_S = 10  # the session RGW's lifecycle "day", in seconds


@pytest.fixture(scope="session")
def rgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One real Ceph RADOS Gateway for the whole session, a lifecycle day lasting 10 s."""
    try:
        import s3local
    except ImportError:
        pytest.skip("tests/s3local.py (the local Ceph RGW helper) is not available")
    data = tmp_path_factory.mktemp("rgw")
    try:
        info = s3local.start_s3_local(data, lc_debug_interval=RGW_LC_DAY_S)
    except s3local.S3LocalError as exc:
        if exc.unavailable and not os.environ.get("S3_LOCAL_REQUIRED"):
            # Ceph cannot be installed here: say so; the folder target's tests still run
            pytest.skip(f"Ceph RGW is not available on this machine: {exc}")
        raise
    yield {**info, "data_dir": str(data), "lc_day_s": str(RGW_LC_DAY_S)}
    s3local.kill_s3_local(data)  # its data goes with the session


@pytest.fixture
def make_team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Any]:
    """`make_team(config_path)`: the standard logged-in users (tests/access_helpers.py) of that
    config's gateway, tokens under tmp_path/tokens."""
    from access_helpers import CHEAP_HASHER, standard_team

    from gateway.access import users
    from gateway.config import load

    monkeypatch.setattr(users, "HASHER", CHEAP_HASHER)

    def make(config: Path) -> Any:
        return standard_team(load(config).data_dir, tmp_path / "tokens")

    return make
