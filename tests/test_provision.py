"""`alpr provision`: no silent guesses (gateway URL, heading), key rotation, telling the gateway."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from gateway_helpers import SECRET, write_config

from gateway.camera_keys import CameraKeys
from gateway.config import load
from gateway.store import Store
from tools.field import provision

BASE = ["--camera", "cam-09", "--ssid", "pd-net"]


def args(config: Path, *extra: str) -> list[str]:
    return [*BASE, "--config", str(config), *extra]


@pytest.fixture(autouse=True)
def wifi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPR_WIFI_PASSWORD", "pd-pass")


def test_without_a_terminal_the_gateway_url_must_be_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    before = config.read_bytes()
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    a = provision.build_args(args(config, "--heading", "90"))
    with pytest.raises(SystemExit, match=r"no gateway URL: give --gateway-url http://HOST:PORT"):
        provision.provision(a)
    assert config.read_bytes() == before and not (tmp_path / "cam-09.secret").exists()
    a = provision.build_args(args(config, "--heading", "90", "--gateway-url", "https://gw:8080"))
    with pytest.raises(SystemExit, match="expected http://HOST:PORT"):
        provision.provision(a)
    a = provision.build_args(args(config, "--heading", "90", "--gateway-url", "http://gw"))
    with pytest.raises(SystemExit, match="expected http://HOST:PORT"):
        provision.provision(a)
    assert config.read_bytes() == before


def test_on_a_terminal_the_guess_is_proposed_and_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace('listen = "127.0.0.1:0"', 'listen = "0.0.0.0:8080"')
    )
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr(provision, "default_route_address", lambda: "10.20.30.40")
    prompts: list[str] = []

    def answer(text: str) -> str:
        prompts.append(text)
        return ""  # Enter: take the proposal

    monkeypatch.setattr("builtins.input", answer)
    _, site = provision.provision(provision.build_args(args(config, "--heading", "90")))
    assert prompts == ["gateway URL as the camera reaches it [http://10.20.30.40:8080]: "]
    assert "listens on all addresses" in capsys.readouterr().err
    assert json.loads(site.read_text())["gateway"] == "http://10.20.30.40:8080"
    # a typed answer wins over the proposal
    monkeypatch.setattr("builtins.input", lambda text: "http://gw.pd.example:8080")
    a = provision.build_args(
        ["--camera", "cam-10", "--config", str(config), "--heading", "10", "--ssid", "x"]
    )
    _, site = provision.provision(a)
    assert json.loads(site.read_text())["gateway"] == "http://gw.pd.example:8080"


def test_the_heading_is_required_and_in_range(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    before = config.read_bytes()
    a = provision.build_args(args(config, "--gateway-url", "http://10.0.0.2:8080"))
    with pytest.raises(SystemExit, match="give --heading DEG"):
        provision.provision(a)
    a = provision.build_args(
        args(config, "--gateway-url", "http://10.0.0.2:8080", "--heading", "361")
    )
    with pytest.raises(SystemExit, match="--heading 361 is out of range 0 to 360"):
        provision.provision(a)
    assert config.read_bytes() == before and not (tmp_path / "cam-09.secret").exists()
    a = provision.build_args(
        args(config, "--gateway-url", "http://10.0.0.2:8080", "--heading", "0")
    )
    provision.provision(a)
    assert load(config).cameras["cam-09"].heading == 0


def provisioned(tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path)
    a = provision.build_args(
        args(config, "--heading", "90", "--gateway-url", "http://10.0.0.2:8080")
    )
    _, site = provision.provision(a)
    return config, site


def rotate(config: Path, camera: str = "cam-09") -> tuple[Path, Path]:
    return provision.provision(provision.build_args(["--rotate", camera, "--config", str(config)]))


def test_rotate_writes_a_new_key_and_keeps_the_old_one_for_the_grace(tmp_path: Path) -> None:
    config, site = provisioned(tmp_path)
    old_site = json.loads(site.read_text())
    before = config.read_text()
    secret_path, out = rotate(config)
    assert out == site and stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(site.stat().st_mode) == 0o600
    new = secret_path.read_text().strip()
    assert new != old_site["secret"]
    after = json.loads(site.read_text())
    assert after == {**old_site, "secret": new}  # Wi-Fi, gateway and the rest as deployed
    loaded = load(config)
    assert loaded.secret("cam-09") == new.encode()
    assert loaded.previous_secret("cam-09") == old_site["secret"].encode()
    assert abs((loaded.cameras["cam-09"].rotated_at or 0) - time.time()) < 60
    # only cam-09's table changed: three lines where its secret line was
    text = config.read_text()
    assert (
        text.replace(
            f'secret = "file:{secret_path.name}"\nprevious_secret = "file:cam-09.secret"\n', ""
        ).split("rotated_at = ")[0]
        == before.split('secret = "file:cam-09.secret"\n')[0]
    )
    assert tomllib.loads(text)["cameras"][0]["secret"] == "file:cam-01.key"
    keys = CameraKeys(loaded, Store(loaded.data_dir))
    assert [k for _, k in keys.keys_for("cam-09")] == [new.encode(), old_site["secret"].encode()]
    # cam-01 rotates too, its table in the middle of the file; cam-09's stays as it was
    secret_01, _ = provision.provision(
        provision.build_args(
            ["--rotate", "cam-01", "--config", str(config), "--gateway-url", "http://10.0.0.2:80"]
        )
    )
    both = load(config)
    assert both.previous_secret("cam-01") == SECRET.encode()
    assert both.secret("cam-01") == secret_01.read_text().strip().encode()
    assert both.secret("cam-09") == new.encode()


def test_a_second_rotation_waits_until_the_camera_used_the_first(tmp_path: Path) -> None:
    """Replacing previous_secret while the board still holds it would lock the camera out."""
    config, site = provisioned(tmp_path)
    rotate(config)
    before = config.read_bytes()
    with pytest.raises(SystemExit, match="has not yet used its new key"):
        rotate(config)
    assert config.read_bytes() == before
    loaded = load(config)
    keys = CameraKeys(loaded, Store(loaded.data_dir))
    keys.note_used("cam-09", "secret")  # the camera's first request with its new key
    deployed = json.loads(site.read_text())["secret"]
    secret_path, _ = rotate(config)
    again = load(config)
    assert again.previous_secret("cam-09") == deployed.encode()
    assert again.secret("cam-09") == secret_path.read_text().strip().encode()


def test_rotate_refuses_an_unknown_camera(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with pytest.raises(SystemExit, match="no camera 'cam-77'"):
        rotate(config, "cam-77")


def test_without_a_pid_file_it_says_to_restart_the_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    a = provision.build_args(
        args(config, "--heading", "90", "--gateway-url", "http://10.0.0.2:8080")
    )
    assert provision.run(a) == 0
    out = capsys.readouterr().out
    assert "gateway http://10.0.0.2:8080" in out
    assert "restart the gateway (`systemctl restart alpr-gateway`) so it knows cam-09" in out


def test_a_running_gateway_is_told_to_reload(tmp_path: Path) -> None:
    """SIGHUP goes to the pid in the data dir's pid file, when that process is alive."""
    config = load(write_config(tmp_path))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    got = tmp_path / "got-hup"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time\n"
         f"signal.signal(signal.SIGHUP, lambda *a: (open({str(got)!r}, 'w').write('hup'), sys.exit(0)))\n"
         "print('ready', flush=True)\n"
         "time.sleep(30)\n"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        (config.data_dir / provision.PID_FILE).write_text(f"{child.pid}\n")
        message = provision.tell_gateway(config, "knows cam-09")
        assert message == f"told the gateway (pid {child.pid}) to reload its config"
        assert child.wait(10) == 0 and got.read_text() == "hup"
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
    # the process is gone now: a stale pid file is named, and the restart advised
    message = provision.tell_gateway(config, "knows cam-09")
    assert "names no running process" in message and "systemctl restart alpr-gateway" in message


def test_rotate_can_point_the_camera_at_a_new_gateway_address(tmp_path: Path) -> None:
    """Moving the gateway: the deployed site config keeps its Wi-Fi, gets the new URL and key."""
    config, site = provisioned(tmp_path)
    deployed = json.loads(site.read_text())
    a = ["--rotate", "cam-09", "--config", str(config), "--gateway-url", "http://10.9.9.9:8080"]
    secret_path, _ = provision.provision(provision.build_args(a))
    after = json.loads(site.read_text())
    new = secret_path.read_text().strip()
    assert after == {**deployed, "gateway": "http://10.9.9.9:8080", "secret": new}
