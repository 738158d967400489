"""A bad config names the key and the problem, and the service does not start on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_helpers import write_config

from gateway.config import EMBEDDED, ConfigError, json_schema, load, load_embedded


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


def replaced(tmp_path: Path, old: str, new: str) -> Path:
    path = write_config(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def refused(path: Path, **kw: bool) -> str:
    with pytest.raises(ConfigError) as info:
        load(path, **kw)
    return str(info.value)


@pytest.mark.parametrize(
    "pasted", ["hunter2-pasted-key-8f3a", "literal", "env:", "file:", "token:hunter2-pasted-key"]
)
def test_malformed_secret_is_not_echoed(tmp_path: Path, pasted: str) -> None:
    message = refused(replaced(tmp_path, 'secret = "file:cam-02.key"', f'secret = "{pasted}"'))
    assert (
        message == "cameras[1].secret: expected 'env:NAME' or 'file:PATH' (the value is not shown)"
    )


def test_secret_of_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    path = replaced(
        tmp_path,
        "[gateway]",
        '[storage]\naccess_key = 987654321\nsecret_key = "env:X"\n\n[gateway]',
    )
    message = refused(path)
    assert "storage.access_key: expected str" in message and "987654321" not in message


def test_literal_secret_only_for_the_demo(tmp_path: Path) -> None:
    path = replaced(tmp_path, 'secret = "file:cam-02.key"', 'secret = "literal:k2"')
    assert "cameras[1].secret: 'literal:' secrets are only for the embedded demo" in refused(path)
    assert load(path, allow_literal=True).secret("cam-02") == b"k2"


def test_embedded_demo_config_loads_with_its_literal_secrets(tmp_path: Path) -> None:
    config = load_embedded(tmp_path)
    assert config.secret("cam-01") and config.data_dir == tmp_path / "var/gateway"
    with pytest.raises(ConfigError, match=r"cameras\[0\].secret: 'literal:'"):
        load(EMBEDDED)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('tls_cert = "gw.pem"', "gateway.tls_cert: no such file"),
        ('tls_cert = "cam-01.key"', "gateway: give both tls_cert and tls_key, or neither"),
        ("header_timeout_s = 0", "gateway.header_timeout_s: 0.0 is out of range"),
        ("header_timeout_s = 60", "gateway: header_timeout_s must not exceed request_timeout_s"),
        ("max_connections = 0", "gateway.max_connections: 0 is out of range"),
        ("keepalive_timeout_s = true", "gateway.keepalive_timeout_s: expected float, got True"),
        ("[hits]\nopen_alert_hours = 0", "hits.open_alert_hours: 0.0 is out of range"),
        ("[retention]\nhits_days = 0", "retention.hits_days: 0 is out of range"),
        ("[retention]\nalerts_days = -1", "retention.alerts_days: -1 is out of range"),
        ("[retention]\nkeep_forever = true", "retention.keep_forever: unknown key"),
        ('[evidence]\naccess_key = "file:cam-01.key"', "evidence: give both access_key"),
        (
            '[[hotlists]]\nsource = "a"\npath = "a.csv"\nmax_bad_share = 1.5',
            "hotlists[0].max_bad_share: 1.5 is out of range [0, 1]",
        ),
    ],
)
def test_new_keys_are_validated(tmp_path: Path, extra: str, message: str) -> None:
    if extra.startswith("["):  # a table of its own, at the end
        path = write_config(tmp_path, extra=f"\n{extra}\n")
    else:
        path = replaced(tmp_path, "reader_workers = 1", f"reader_workers = 1\n{extra}")
    assert message in refused(path)


def test_new_keys_defaults_and_values(tmp_path: Path) -> None:
    config = load(write_config(tmp_path))
    assert (config.tls_cert, config.header_timeout_s, config.request_timeout_s) == (None, 10, 30)
    assert (config.keepalive_timeout_s, config.max_connections, config.open_hit_hours) == (
        5,
        64,
        12,
    )
    r = load(
        replaced(tmp_path, 'name = "Test PD"', 'name = "Test PD"\nretention_days = 45')
    ).retention
    assert (r.alerts_days, r.hits_days, r.heartbeats_days) == (45, 365, 90)  # alerts: the agency's
    assert (r.access_log_plates_days, r.access_log_days) == (45, 1095)
    assert config.evidence.credentials() == (None, None)
    (tmp_path / "gw.pem").write_text("cert")
    (tmp_path / "gw.key").write_text("key")
    path = replaced(tmp_path, "reader_workers = 1", 'reader_workers = 1\ntls_cert = "gw.pem"')
    path.write_text(
        path.read_text().replace('tls_cert = "gw.pem"', 'tls_cert = "gw.pem"\ntls_key = "gw.key"')
        + "[retention]\nalerts_days = 60\naccess_log_plates_days = 7\n\n"
        '[evidence]\naccess_key = "file:cam-01.key"\nsecret_key = "file:cam-02.key"\n'
        'principal = "arn:aws:iam:::user/alpr-evidence"\n\n'
        '[[hotlists]]\nsource = "a"\npath = "a.csv"\nmax_bad_share = 0.2',
    )
    config = load(path)
    assert config.tls_cert == tmp_path / "gw.pem" and config.tls_key == tmp_path / "gw.key"
    assert (config.retention.alerts_days, config.retention.access_log_plates_days) == (60, 7)
    assert config.evidence.credentials() == ("s3cret-cam-01", "other-secret")
    assert config.evidence.principal == "arn:aws:iam:::user/alpr-evidence"
    assert config.hotlists[0].max_bad_share == 0.2


def alpr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_schema_lists_every_table_and_key() -> None:
    out = alpr("config", "schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert set(schema["properties"]) >= {
        "agency", "storage", "gateway", "matching", "hits", "retention", "evidence",
        "sites", "cameras", "hotlists", "alerts",
    }  # fmt: skip
    defs = schema["$defs"]
    assert {"tls_cert", "tls_key", "request_timeout_s", "max_connections"} <= set(
        defs["GatewaySection"]["properties"]
    )
    assert defs["GatewaySection"]["additionalProperties"] is False
    assert defs["CameraEntry"]["properties"]["heading"]["maximum"] == 360
    assert "secret" in defs["AlertTarget"]["properties"]
    assert defs["HotlistSource"]["properties"]["max_bad_share"]["default"] == 0.05


def test_config_check_prints_ok_or_the_problem(tmp_path: Path) -> None:
    good = write_config(tmp_path)
    out = alpr("config", "check", "--config", str(good))
    assert out.returncode == 0 and out.stdout.startswith("OK:"), out.stderr
    good.write_text(good.read_text().replace("heading = 90", "heading = 400"))
    out = alpr("config", "check", "--config", str(good))
    assert out.returncode == 1 and "cameras[0].heading: 400.0 is out of range" in out.stderr


def test_committed_schema_is_current() -> None:
    """gateway/config.schema.json is what `alpr config schema` prints (regenerate it if not)."""
    committed = json.loads((Path(__file__).parents[1] / "gateway/config.schema.json").read_text())
    assert committed == json_schema()


def test_left_out_sections_resolve_paths_against_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config without [gateway] keeps its data beside itself, wherever the command runs."""
    folder = tmp_path / "site"
    folder.mkdir()
    path = folder / "alpr.toml"
    path.write_text('[agency]\nname = "Test PD"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load(path).data_dir == folder / "var" / "gateway"
