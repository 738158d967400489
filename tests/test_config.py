"""A bad config names the key and the problem, and the service does not start on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from gateway_helpers import write_config

from gateway.config import ConfigError, load


def test_good_config_loads(tmp_path: Path) -> None:
    config = load(
        write_config(
            tmp_path, extra="[cameras.hints]\nroi = [0, 300, 1280, 400]\nplate_width = 120\n"
        )
    )
    assert config.retention_days == 30
    assert config.cameras["cam-02"].hints.roi == (0, 300, 1280, 400)
    assert config.cameras["cam-01"].lat == 40.0  # taken from its site
    assert config.secret("cam-01") == b"s3cret-cam-01"
    assert config.storage.target.startswith("file://")
    assert config.storage.local_retention_days == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("Test PD", ""), "agency.name: must not be empty"),
        (("heading = 90", "heading = 400"), "cameras[0].heading: 400.0 is out of range"),
        (
            ('site = "s1"\nheading = 270', 'site = "s9"\nheading = 270'),
            "cameras[1].site: unknown site 's9'",
        ),
        (('id = "cam-02"', 'id = "cam-01"'), "cameras[1].id: duplicate camera id 'cam-01'"),
        (("lat = 40.0", 'lat = "north"'), "sites[0].lat: expected float, got 'north'"),
        (('listen = "127.0.0.1:0"', 'listen = "nowhere"'), "gateway.listen: expected HOST:PORT"),
        (
            ('secret = "file:cam-02.key"', 'secret = "env:ALPR_TEST_UNSET_SECRET"'),
            "cameras[1].secret: environment variable ALPR_TEST_UNSET_SECRET is not set",
        ),
        (
            ("reader_workers = 1", 'reader_workers = 1\ncolour = "red"'),
            "gateway.colour: unknown key",
        ),
        (
            ('name = "Test PD"', 'name = "Test PD"\nretention_days = 0'),
            "agency.retention_days: 0 is out of range",
        ),
        (("[agency]", "[agency"), "not valid TOML"),
    ],
)
def test_bad_config_names_key_and_problem(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write_config(tmp_path)
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ConfigError) as info:
        load(path)
    assert message in str(info.value)


def test_service_refuses_to_start_on_bad_config(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("heading = 90", "heading = -5"))
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "cameras[0].heading: -5.0 is out of range" in out.stderr
