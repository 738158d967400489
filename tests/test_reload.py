"""Live reload against a real gateway process (`alpr gateway serve`) on loopback: SIGHUP through
`alpr gateway reload`, watch mode, a bad edit refused, an alert target added and a hot list changed
while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from gateway_helpers import SECRET, jpeg, scene_jpeg, write_config, write_secret
from test_gateway_e2e import FUTURE, Webhook, free_port, start_gateway, wait_for

from gateway import review
from gateway.alerts import AlertDispatcher
from gateway.backup import ServiceLock
from gateway.config import AlertTarget, load
from gateway.reload import PID_NAME, PidFile, digest, keep_fixed, running_pid
from gateway.store import Store
from gateway.web import camera_server
from tools.field.camera_sim import CameraClient

CAM3 = '[[cameras]]\nid = "cam-03"\nsite = "s1"\nheading = 180\nsecret = "file:cam-03.key"\n'
HEADER = "plate,state,category,case_number,reason,requested_by,contact,instructions,expires\n"


def entry(plate: str) -> str:
    return (
        f"{plate},IL,stolen-vehicle,26-{plate},stolen,Det. Ray,dispatch,do not approach,{FUTURE}\n"
    )


def alpr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True, timeout=60
    )


def beat(port: int, camera: str, secret: str) -> int:
    client = CameraClient(f"http://127.0.0.1:{port}", camera, secret.encode(), timeout_s=5)
    try:
        return client.send_heartbeat({"battery_v": 3.9})[0]
    finally:
        client.close()


def log_of(tmp: Path) -> str:
    return (tmp / "gateway.log").read_text()


@contextmanager
def gateway(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_gateway(config, port)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_camera_added_is_accepted_after_sighup(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port=port)
    write_secret(tmp_path, "cam-03.key", "cam-03-secret")
    data = tmp_path / "data"
    with gateway(config, port) as proc:
        assert running_pid(data) == (proc.pid, "")
        assert beat(port, "cam-03", "cam-03-secret") == 403
        # the new camera, and a new listen address, which cannot change while running
        write_config(tmp_path, port=free_port(), extra=CAM3)
        done = alpr("gateway", "reload", "--config", str(config))
        assert done.returncode == 0, done.stderr
        assert wait_for(lambda: "config reloaded" in log_of(tmp_path), 20)
        assert beat(port, "cam-03", "cam-03-secret") == 200
        assert beat(port, "cam-01", SECRET) == 200
        assert "gateway.listen needs a restart; keeping the running value" in log_of(tmp_path)
    assert proc.returncode == 0
    assert not (data / PID_NAME).exists(), "the pid file goes with a clean exit"
    assert "no gateway is running" in alpr("gateway", "reload", "--config", str(config)).stderr


def test_watch_takes_an_edit_and_refuses_a_bad_one(tmp_path: Path) -> None:
    port = free_port()
    watch = 'reload = "watch"'
    config = write_config(tmp_path, port=port, gateway=watch)
    write_secret(tmp_path, "cam-03.key", "cam-03-secret")
    with gateway(config, port):
        assert beat(port, "cam-03", "cam-03-secret") == 403
        write_config(tmp_path, port=port, gateway=watch, extra=CAM3)  # no signal
        assert wait_for(lambda: beat(port, "cam-03", "cam-03-secret") == 200, 20)
        # a bad edit (a heading out of range) applies nothing
        bad = CAM3.replace("heading = 180", "heading = 400")
        write_config(tmp_path, port=port, gateway=watch, extra=bad)
        assert wait_for(lambda: "config reload refused" in log_of(tmp_path), 20)
        refused = next(line for line in log_of(tmp_path).splitlines() if "refused" in line)
        assert "cameras[2].heading" in refused and "the running config stays" in refused
        assert beat(port, "cam-01", SECRET) == 200
        assert beat(port, "cam-03", "cam-03-secret") == 200


def test_alert_target_added_live_delivers_a_reimported_hotlist_hit(tmp_path: Path) -> None:
    hook = Webhook(b"reload-hook-secret")
    write_secret(tmp_path, "hook.key", "reload-hook-secret")
    port = free_port()
    hot = tmp_path / "hot.csv"
    hot.write_text(HEADER + entry("PLM731"))
    hotlists = '[[hotlists]]\nsource = "local"\npath = "hot.csv"\n'
    config = write_config(tmp_path, port=port, extra=hotlists)
    store = Store(tmp_path / "data")
    review.approve_source(store, "local", "mgr")  # a manager approved the source: its entries match
    active = "SELECT plate FROM hotlist WHERE cancelled_at IS NULL ORDER BY plate"
    with gateway(config, port) as proc:
        assert wait_for(lambda: [r[0] for r in store.connect().execute(active)] == ["PLM731"], 30)
        hot.write_text(HEADER + entry("PLM731") + entry("KXR482"))
        webhook = f'[[alerts]]\nkind = "webhook"\nurl = "{hook.url}"\nsecret = "file:hook.key"\n'
        write_config(tmp_path, port=port, extra=hotlists + webhook)
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "config reloaded" in log_of(tmp_path), 20)
        assert [r[0] for r in store.connect().execute(active)] == ["KXR482", "PLM731"]
        client = CameraClient(f"http://127.0.0.1:{port}", "cam-01", SECRET.encode())
        assert client.send_event(1, [scene_jpeg("KXR482", seed=1), jpeg(9)])[0] == 201
        client.close()
        assert wait_for(lambda: len(hook.received) >= 1, 90)
        assert hook.received[0]["entry"]["plate"] == "KXR482"
        # a refused file keeps the list it would have replaced
        hot.write_text("not,a,hot,list\n")
        proc.send_signal(signal.SIGHUP)
        assert wait_for(
            lambda: "hot list local: " in log_of(tmp_path) and "stays active" in log_of(tmp_path),
            20,
        )
        assert [r[0] for r in store.connect().execute(active)] == ["KXR482", "PLM731"]


def test_pid_file_counts_only_while_its_gateway_holds_the_lock(tmp_path: Path) -> None:
    """A pid file left by a gateway that died is not taken for a running one."""
    PidFile(tmp_path).write()
    pid, why = running_pid(tmp_path)
    assert pid is None and "left from one that stopped" in why
    with ServiceLock(tmp_path):
        assert running_pid(tmp_path) == (os.getpid(), "")
        (tmp_path / PID_NAME).write_text("999999\n")  # not the pid holding the lock
        assert running_pid(tmp_path)[0] is None
    PidFile(tmp_path).write()  # the lock file stays after its gateway stopped, unheld
    assert running_pid(tmp_path)[0] is None
    PidFile(tmp_path).remove()
    assert "no gateway is running (no " in running_pid(tmp_path)[1]


def test_ingest_takes_a_new_secret_and_drops_a_removed_camera(tmp_path: Path) -> None:
    """Secrets are read afresh under a reloaded config: a rotated key is used at once."""
    config = load(write_config(tmp_path))
    store = Store(config.data_dir)
    server = camera_server(config, store)
    server.start()
    try:
        ingest = server.config.app.state.ingest  # type: ignore[union-attr]

        def status(camera: str, secret: str) -> int:
            client = CameraClient(server.url, camera, secret.encode(), timeout_s=5)
            try:
                return client.send_heartbeat({})[0]
            finally:
                client.close()

        assert status("cam-01", SECRET) == 200 and status("cam-02", "other-secret") == 200
        write_secret(tmp_path, "cam-01.key", "rotated-secret")
        (tmp_path / "alpr.toml").write_text(
            (tmp_path / "alpr.toml").read_text().split('[[cameras]]\nid = "cam-02"')[0]
        )
        ingest.reconfigure(load(tmp_path / "alpr.toml"))
        assert status("cam-01", SECRET) == 401
        assert status("cam-01", "rotated-secret") == 200
        assert status("cam-02", "other-secret") == 403
    finally:
        server.shutdown()


def test_alert_workers_follow_the_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged target keeps its worker; a changed one gets a new worker once the old stopped."""
    store = Store(tmp_path / "data")
    stop = threading.Event()
    log_target = AlertTarget(kind="log")
    dispatcher = AlertDispatcher(store, [log_target], stop, timeout_s=1)
    dispatcher.start()
    try:
        first = dispatcher.workers[0]
        assert wait_for(first.is_alive, 5)
        monkeypatch.setenv("HOOK_KEY", "k")
        hook = AlertTarget.model_validate(
            {"kind": "webhook", "url": "http://127.0.0.1:9/a", "secret": "env:HOOK_KEY"}
        )
        dispatcher.reconfigure([log_target, hook])
        assert dispatcher.workers[0] is first and dispatcher.workers[1].is_alive()
        second = dispatcher.workers[1]
        dispatcher.reconfigure([hook])
        assert not first.is_alive(), "the replaced worker stopped before its successor started"
        assert not second.is_alive(), "the worker of a removed target stopped"
        assert dispatcher.workers[0].target == hook and dispatcher.workers[0].is_alive()
    finally:
        stop.set()
        dispatcher.join(timeout=10)
    assert not any(w.is_alive() for w in dispatcher.workers)


def test_sighup_while_starting_is_a_reload_not_an_exit(tmp_path: Path) -> None:
    """`alpr gateway reload` may come as soon as the pid file exists, before the gateway serves."""
    port = free_port()
    config = write_config(tmp_path, port=port)
    with open(tmp_path / "gateway.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "gateway", "serve", "--config", str(config)],
            stdout=out,
            stderr=out,
        )
    try:
        assert wait_for(lambda: (tmp_path / "data" / PID_NAME).exists() or proc.poll(), 60)
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "config reloaded" in log_of(tmp_path) or proc.poll(), 60)
        assert proc.poll() is None, log_of(tmp_path)
        assert beat(port, "cam-01", SECRET) == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_keys_bound_at_start_keep_their_running_value(tmp_path: Path) -> None:
    running = load(write_config(tmp_path, port=8001))
    edited = write_config(
        tmp_path,
        port=8002,
        workers=2,
        extra='[storage]\ntarget = "file://elsewhere"\nlocal_retention_days = 3\n'
        "[matching]\nmax_substitutions = 0\n",
    )
    edited.write_text(edited.read_text().replace('data_dir = "data"', 'data_dir = "data2"'))
    new, fixed = keep_fixed(running, load(edited), digest())
    assert fixed == [
        "gateway.listen",
        "gateway.data_dir",
        "gateway.reader_workers",
        "storage.target",
    ]
    assert (new.listen_port, new.data_dir, new.reader_workers) == (8001, tmp_path / "data", 1)
    assert new.storage.target == running.storage.target
    assert new.storage.local_retention_days == 3 and new.max_substitutions == 0
