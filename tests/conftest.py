"""Shared fixtures: the development data, which a fresh clone does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.train.data import data_dir


@pytest.fixture(scope="session")
def dev_data() -> Path:
    root = data_dir()
    if not (root / "crops" / "labels.csv").is_file():
        pytest.skip(f"development data not found at {root} (set ALPR_DATA to use another copy)")
    return root
