"""`alpr provision`, `alpr flash` (offline: esptool without a board) and `alpr deploy` errors."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from gateway_helpers import write_config

from gateway.config import load
from tools.field import deploy, flash, provision

NEW = ["--heading", "45", "--gateway-url", "http://10.0.0.2:8080"]


def test_provision_registers_and_keeps_the_config_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPR_WIFI_PASSWORD", "from-env")
    config = write_config(tmp_path)
    before = config.read_bytes()
    args = provision.build_args(
        ["--camera", "cam-09", "--config", str(config), "--ssid", "pd-net", *NEW]
    )
    secret_path, site = provision.provision(args)
    assert config.read_bytes().startswith(before)
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(site.stat().st_mode) == 0o600
    loaded = load(config)
    secret = secret_path.read_text().strip()
    assert loaded.secret("cam-09") == secret.encode()
    conf = json.loads(site.read_text())
    assert conf["secret"] == secret and conf["camera"] == "cam-09"
    assert conf["gateway"] == "http://10.0.0.2:8080"
    assert loaded.cameras["cam-09"].heading == 45
    assert conf["wifi"] == {"ssid": "pd-net", "password": "from-env"}
    with pytest.raises(SystemExit, match="already"):
        provision.provision(args)


def test_provision_takes_the_wifi_password_from_a_file_never_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password in argv is visible in `ps` to every user of the machine."""
    config = write_config(tmp_path)
    monkeypatch.delenv("ALPR_WIFI_PASSWORD", raising=False)
    with pytest.raises(SystemExit):
        provision.build_args(["--camera", "cam-09", "--config", str(config), "--password", "x"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    args = provision.build_args(["--camera", "cam-09", "--config", str(config), *NEW])
    before = config.read_bytes()
    with pytest.raises(SystemExit, match="--password-file or set ALPR_WIFI_PASSWORD"):
        provision.provision(args)
    assert config.read_bytes() == before and not (tmp_path / "cam-09.secret").exists()
    secret_file = tmp_path / "wifi.pass"
    secret_file.write_text("p@ss word\n")
    monkeypatch.setenv("ALPR_WIFI_PASSWORD", "the file wins")
    args = provision.build_args(
        ["--camera", "cam-09", "--config", str(config), "--password-file", str(secret_file), *NEW]
    )
    _, site = provision.provision(args)
    assert json.loads(site.read_text())["wifi"]["password"] == "p@ss word"


def test_provision_prompts_for_the_password_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    monkeypatch.delenv("ALPR_WIFI_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: "typed-secret")
    args = provision.build_args(
        ["--camera", "cam-09", "--config", str(config), "--ssid", "ap", *NEW]
    )
    _, site = provision.provision(args)
    assert json.loads(site.read_text())["wifi"]["password"] == "typed-secret"


def test_provision_refuses_an_unknown_site(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    before = config.read_bytes()
    args = provision.build_args(
        ["--camera", "cam-09", "--config", str(config), "--site", "nope", *NEW]
    )
    with pytest.raises(SystemExit, match="unknown site"):
        provision.provision(args)
    assert config.read_bytes() == before


def esp_image(tmp_path: Path, chip: str) -> Path:
    from esptool.bin_image import ELFSection, ESP32FirmwareImage, ESP32S3FirmwareImage

    image = ESP32FirmwareImage() if chip == "esp32" else ESP32S3FirmwareImage()
    image.entrypoint = 0x40080000
    image.segments = [ELFSection(b".dram0.data", 0x3FFB0000, b"\x01\x02\x03\x04" * 64, 0)]
    path = tmp_path / f"micropython-{chip}.bin"
    image.save(str(path))
    return path


def test_esptool_reads_and_merges_images_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from esptool import cmds

    app = esp_image(tmp_path, "esp32")
    cmds.image_info(str(app), chip="esp32")
    assert "Entry point: 0x40080000" in capsys.readouterr().out
    merged = tmp_path / "merged.bin"
    cmds.merge_bin([(0x1000, str(app))], chip="esp32", output=str(merged))
    data = merged.read_bytes()
    assert data[0x1000] == 0xE9 and data[:0x1000] == b"\xff" * 0x1000
    assert flash.image_chip(merged) == "esp32"
    assert flash.image_chip(esp_image(tmp_path, "esp32s3")) == "esp32s3"


def test_flash_plan_and_wrong_chip(tmp_path: Path) -> None:
    app = esp_image(tmp_path, "esp32")
    steps = flash.plan(app, "esp32", erase=True)
    assert [s.name for s in steps] == ["detect", "erase", "write", "verify", "reset"]
    assert "0x1000" in steps[2].detail
    assert [s.name for s in flash.plan(app, "esp32", erase=False)][1] == "write"
    with pytest.raises(flash.FlashError, match="wrong chip"):
        flash.plan(app, "esp32s3", erase=False)
    not_image = tmp_path / "x.bin"
    not_image.write_bytes(b"hello" * 10)
    with pytest.raises(flash.FlashError, match="not an ESP firmware image"):
        flash.plan(not_image, "esp32", erase=False)


def test_flash_and_deploy_say_clearly_when_there_is_no_board(tmp_path: Path) -> None:
    with pytest.raises(flash.FlashError, match="emulated board"):
        flash.flash("socket://127.0.0.1:9", esp_image(tmp_path, "esp32"), erase=False)
    with pytest.raises(flash.FlashError, match="no ESP32 answered"):
        flash.flash("/dev/ttyNOPE0", esp_image(tmp_path, "esp32"), erase=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(deploy.DeployError, match="no board at socket://"):
        deploy.deploy(f"socket://127.0.0.1:{port}", None)
    with pytest.raises(deploy.DeployError, match="no such device"):
        deploy.deploy("/dev/ttyNOPE0", None)
