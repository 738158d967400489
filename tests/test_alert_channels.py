"""Alert channels against real servers: MQTT (Debian's mosquitto), mail (aiosmtpd with STARTTLS),
and a dead channel that waits alone while the others deliver, then catches up once it is back."""

from __future__ import annotations

import datetime as dt
import email
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from channel_helpers import Subscriber, free_port, mosquitto, self_signed, smtp_server, wait_for
from gateway_helpers import SECRET, scene_jpeg, write_config, write_secret
from test_webhook import receiver

from gateway import review
from gateway.alert_message import VERIFY_REMINDER, build_payload
from gateway.alerts import AlertDispatcher, queue_alerts
from gateway.config import Config, ConfigError, load
from gateway.service import Gateway
from gateway.store import Store
from tools.field.camera_sim import CameraClient
from tools.ops.gateway_cmd import gateway_status

FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
CONSOLE = "https://alpr.county.example"


def record_hit(
    store: Store, config: Config, plate: str, category: str, camera: str = "cam-01"
) -> int:
    """A hit and its outbox rows in one transaction, as the reader records them."""
    db = store.connect()
    entry = {
        "id": 7,
        "source": "local",
        "plate": plate,
        "state": "IL",
        "category": category,
        "case_number": "26-000123",
        "reason": "stolen from driveway",
        "requested_by": "Det. Ray #12",
        "contact": "dispatch 555-0100",
        "instructions": "do not approach",
        "expires": FUTURE,
    }
    read = {
        "id": f"r-{plate}",
        "camera": camera,
        "site": "s1",
        "text": plate,
        "captured": time.time(),
    }
    db.execute("BEGIN IMMEDIATE")
    cur = db.execute(
        "INSERT INTO hits (read_id, entry_id, entry, match_kind, matched_text, created, plate,"
        " camera, site) VALUES (?,?,?,?,?,?,?,?,?)",
        (read["id"], 7, json.dumps(entry), "exact", plate, time.time(), plate, camera, "s1"),
    )
    hit_id = int(cur.lastrowid or 0)
    payload = build_payload(hit_id, "exact", plate, read, entry, config.console_url)
    queue_alerts(db, hit_id, payload, config.alerts, time.time())
    db.execute("COMMIT")
    return hit_id


@contextmanager
def dispatching(config: Config, store: Store, timeout_s: float = 2.0) -> Iterator[AlertDispatcher]:
    stop = threading.Event()
    dispatcher = AlertDispatcher(store, config.alerts, stop, timeout_s=timeout_s, base_s=0.05)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        stop.set()
        dispatcher.join(timeout=30)


def pending(store: Store, target: str) -> list[Any]:
    return (
        store.connect()
        .execute("SELECT * FROM alerts WHERE target=? AND delivered_at IS NULL", (target,))
        .fetchall()
    )


# -- MQTT ------------------------------------------------------------------------------------------


def test_mqtt_hit_and_retained_health_through_the_gateway(tmp_path: Path) -> None:
    """A real capture of a hot-listed plate through ingest and the reader becomes a QoS-1 message on
    alpr/<site>/<camera>/hit; a heartbeat becomes a retained health message a late subscriber gets."""
    user = ("gateway", "mqtt-pass-71c")
    with mosquitto(tmp_path / "broker", user=user) as port:
        write_secret(tmp_path, "mqtt.key", user[1])
        (tmp_path / "hot.csv").write_text(
            "plate,state,category,case_number,reason,requested_by,contact,instructions,expires\n"
            f"KXR482,IL,stolen-vehicle,26-000123,stolen,Det. Ray #12,dispatch 555-0100,"
            f"do not approach,{FUTURE}\n"
        )
        config = load(
            write_config(
                tmp_path,
                extra=(
                    f'[console]\nurl = "{CONSOLE}/"\n\n'
                    '[[hotlists]]\nsource = "local"\npath = "hot.csv"\n\n'
                    f'[[alerts]]\nkind = "mqtt"\nhost = "127.0.0.1"\nport = {port}\n'
                    f'username = "{user[0]}"\npassword = "file:mqtt.key"\nclient_id = "alpr-gw"\n'
                ),
            )
        )
        early = Subscriber(port, "alpr/#", user)
        review.approve_source(Store(config.data_dir), "local", "mgr")  # only approved lists alert
        gateway = Gateway(config)
        gateway.start()
        try:
            host, gw_port = gateway.address
            camera = CameraClient(f"http://{host}:{gw_port}", "cam-01", SECRET.encode())
            assert camera.send_event(1, [scene_jpeg("KXR482", seed=1)])[0] == 201
            assert camera.send_heartbeat({"battery_v": 3.91, "queued": 0})[0] == 200
            camera.close()
            assert wait_for(lambda: early.on("alpr/s1/cam-01/hit"), 60), early.messages
            assert wait_for(lambda: early.on("alpr/cam-01/health"))
        finally:
            gateway.shutdown()
            early.close()
        hit = early.on("alpr/s1/cam-01/hit")
        assert len(hit) == 1 and hit[0].qos == 1 and not hit[0].retain
        alert = hit[0].payload
        assert next(iter(alert)) == "reminder" and alert["reminder"] == VERIFY_REMINDER
        hit_id = gateway.store.connect().execute("SELECT id FROM hits").fetchone()[0]
        assert alert["hit"] == hit_id and alert["console"] == f"{CONSOLE}/hits/{hit_id}"
        assert alert["entry"]["plate"] == "KXR482" and alert["read"]["camera"] == "cam-01"
        # a subscriber that comes later still receives each camera's last health, retained
        late = Subscriber(port, "alpr/+/health", user)
        try:
            assert wait_for(lambda: late.messages, 10)
        finally:
            late.close()
        health = late.messages[0]
        assert health.topic == "alpr/cam-01/health" and health.retain and health.qos == 1
        assert health.payload["camera"] == "cam-01" and health.payload["battery_v"] == 3.91


def test_mqtt_health_is_published_once_per_heartbeat(tmp_path: Path) -> None:
    """Each new heartbeat is published once; after a restart the dispatcher resumes where it was."""
    with mosquitto(tmp_path / "broker") as port:
        config = load(
            write_config(
                tmp_path, extra=f'[[alerts]]\nkind = "mqtt"\nhost = "127.0.0.1"\nport = {port}\n'
            )
        )
        store = Store(config.data_dir)
        sub = Subscriber(port, "alpr/+/health")
        try:
            store.add_heartbeat("cam-01", {"battery_v": 3.9})
            with dispatching(config, store):
                assert wait_for(lambda: len(sub.messages) == 1)
                store.add_heartbeat("cam-02", {"battery_v": 3.7})
                store.add_heartbeat("cam-01", {"battery_v": 3.8})
                assert wait_for(lambda: len(sub.messages) == 3)
            with dispatching(config, store):  # a restart publishes nothing twice
                store.add_heartbeat("cam-02", {"battery_v": 3.6})
                assert wait_for(lambda: len(sub.messages) == 4)
                time.sleep(0.5)
        finally:
            sub.close()
        got = [(m.topic, m.payload["battery_v"]) for m in sub.messages]
        assert got == [
            ("alpr/cam-01/health", 3.9),
            ("alpr/cam-02/health", 3.7),
            ("alpr/cam-01/health", 3.8),
            ("alpr/cam-02/health", 3.6),
        ]


def test_mqtt_over_tls_trusts_only_the_configured_ca(tmp_path: Path) -> None:
    """tls = true with ca_file: delivered over TLS; without the CA the broker's certificate is
    refused and the alert waits in the outbox with the reason."""
    cert, key = self_signed(tmp_path)
    with mosquitto(tmp_path / "broker", tls=(cert, key)) as port:
        alert = f'[[alerts]]\nkind = "mqtt"\nhost = "localhost"\nport = {port}\ntls = true\n'
        sub = Subscriber(port, "alpr/#", ca_file=cert)
        try:
            trusted = load(write_config(tmp_path, extra=alert + 'ca_file = "smtp-cert.pem"\n'))
            store = Store(trusted.data_dir)
            hit_id = record_hit(store, trusted, "KXR482", "stolen-vehicle")
            with dispatching(trusted, store):
                assert wait_for(lambda: sub.on("alpr/s1/cam-01/hit"))
            assert sub.on("alpr/s1/cam-01/hit")[0].payload["hit"] == hit_id
            untrusted = load(write_config(tmp_path, extra=alert))  # the system's CAs only
            record_hit(store, untrusted, "PLM731", "stolen-vehicle")
            with dispatching(untrusted, store):
                assert wait_for(lambda: pending(store, "0:mqtt")[0]["attempts"] >= 1)
        finally:
            sub.close()
        assert "CERTIFICATE_VERIFY_FAILED" in pending(store, "0:mqtt")[0]["last_error"]
        assert len(sub.on("alpr/s1/cam-01/hit")) == 1


# -- email -----------------------------------------------------------------------------------------


def email_config(tmp: Path, port: int, extra: str = "") -> Config:
    write_secret(tmp, "smtp.key", "smtp-pass-93a")
    return load(
        write_config(
            tmp,
            extra=(
                f'[[alerts]]\nkind = "email"\nhost = "localhost"\nport = {port}\n'
                'username = "alpr"\npassword = "file:smtp.key"\n'
                f'ca_file = "smtp-cert.pem"\nfrom = "alpr@county.example"\n'
                'to = ["watch@county.example"]\n'
                f"{extra}"
                '\n[alerts.recipients]\namber = ["amber@county.example", "chief@county.example"]\n'
            ),
        )
    )


def parsed(data: bytes) -> Message:
    return email.message_from_bytes(data)


def test_email_over_starttls_to_each_category_recipients(tmp_path: Path) -> None:
    with smtp_server(tmp_path, user=("alpr", "smtp-pass-93a")) as (port, mails):
        config = email_config(tmp_path, port)
        store = Store(config.data_dir)
        amber = record_hit(store, config, "AMB3R1", "amber")
        stolen = record_hit(store, config, "KXR482", "stolen-vehicle")
        with dispatching(config, store):
            assert wait_for(lambda: len(mails) == 2)
            assert wait_for(lambda: not pending(store, "0:email"))
    by_plate = {parsed(m.data)["Subject"].split()[-3]: m for m in mails}
    first, second = by_plate["AMB3R1"], by_plate["KXR482"]
    assert first.recipients == ["amber@county.example", "chief@county.example"]
    assert second.recipients == ["watch@county.example"]
    for mail, hit_id in ((first, amber), (second, stolen)):
        assert mail.tls and mail.login == b"alpr" and mail.sender == "alpr@county.example"
        msg = parsed(mail.data)
        assert msg["Subject"].startswith(f"ALPR hit {hit_id} (verify first): ")
        body = msg.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert body.startswith(VERIFY_REMINDER)
        assert "console: not configured" in body and "instructions: do not approach" in body
    assert parsed(first.data)["To"] == "amber@county.example, chief@county.example"


def test_email_refuses_a_certificate_it_does_not_trust(tmp_path: Path) -> None:
    """Without ca_file only the system's CAs are trusted: a self-signed server gets no mail."""
    with smtp_server(tmp_path, user=("alpr", "smtp-pass-93a")) as (port, mails):
        write_secret(tmp_path, "smtp.key", "smtp-pass-93a")
        config = load(
            write_config(
                tmp_path,
                extra=(
                    f'[[alerts]]\nkind = "email"\nhost = "localhost"\nport = {port}\n'
                    'username = "alpr"\npassword = "file:smtp.key"\n'
                    'from = "alpr@county.example"\nto = ["watch@county.example"]\n'
                ),
            )
        )
        store = Store(config.data_dir)
        record_hit(store, config, "KXR482", "stolen-vehicle")
        with dispatching(config, store):
            assert wait_for(lambda: pending(store, "0:email")[0]["attempts"] >= 1)
    assert mails == []
    assert "CERTIFICATE_VERIFY_FAILED" in pending(store, "0:email")[0]["last_error"]


def test_email_refuses_a_server_without_starttls(tmp_path: Path) -> None:
    """Never in clear text: the alert stays in the outbox with the reason, until STARTTLS works."""
    (tmp_path / "smtp-cert.pem").write_text("")  # ca_file must exist; never read here
    with smtp_server(tmp_path, starttls=False) as (port, mails):
        config = email_config(tmp_path, port)
        store = Store(config.data_dir)
        record_hit(store, config, "KXR482", "stolen-vehicle")
        with dispatching(config, store):
            assert wait_for(lambda: pending(store, "0:email")[0]["attempts"] >= 1)
    assert mails == []
    assert "does not offer STARTTLS" in pending(store, "0:email")[0]["last_error"]


# -- a dead channel waits alone --------------------------------------------------------------------


def silent_listener(port: int) -> socket.socket:
    """Accepts TCP connections (the kernel does) but never answers: a hung broker. Closing it
    resets the connections waiting in it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def test_a_dead_channel_never_holds_the_others_back(tmp_path: Path, caplog: Any) -> None:
    """The broker hangs (a TCP listener that never answers) and the MQTT connect waits up to its
    30 s timeout; meanwhile the webhook and the log deliver every alert. The broker then refuses
    connections for a while, and at last a real one starts on its port: the MQTT alerts are
    delivered, and nothing is sent twice to the other targets."""
    caplog.set_level(logging.WARNING, logger="alpr.alerts")
    port = free_port()
    write_secret(tmp_path, "hook.key", "hook-secret-4f1c")
    hung = silent_listener(port)
    with receiver() as (url, hooks):
        config = load(
            write_config(
                tmp_path,
                extra=(
                    f'[console]\nurl = "{CONSOLE}"\n\n'
                    f'[[alerts]]\nkind = "mqtt"\nhost = "127.0.0.1"\nport = {port}\n\n'
                    f'[[alerts]]\nkind = "webhook"\nurl = "{url}"\nsecret = "file:hook.key"\n\n'
                    '[[alerts]]\nkind = "log"\n'
                ),
            )
        )
        store = Store(config.data_dir)
        plates = ("KXR482", "PLM731", "ZZT100")
        hits = [record_hit(store, config, p, "stolen-vehicle") for p in plates]
        with dispatching(config, store, timeout_s=30) as dispatcher:
            mqtt_worker = dispatcher.workers[0]
            assert wait_for(lambda: len(hooks) == 3 and not pending(store, "2:log"))
            # the MQTT worker is still inside its first, hung attempt
            assert [r["attempts"] for r in pending(store, "0:mqtt")] == [0, 0, 0]
            hung.close()  # now refused: retried with a growing pause
            assert wait_for(lambda: mqtt_worker.failures >= 6, 30)
            assert "Connection refused" in pending(store, "0:mqtt")[0]["last_error"]
            waiting = gateway_status(store)["alerts_waiting"]  # what `alpr gateway status` shows
            assert list(waiting) == ["0:mqtt"] and waiting["0:mqtt"]["pending"] == 3
            assert "Connection refused" in waiting["0:mqtt"]["last_error"]
            # hold the retries only while the broker and the test's subscriber start, so that the
            # subscriber misses nothing (hits are not retained)
            mqtt_worker.paused_until = time.time() + 3600
            with mosquitto(tmp_path / "broker", port=port):
                sub = Subscriber(port, "alpr/#")
                mqtt_worker.paused_until = 0.0
                try:
                    assert wait_for(lambda: not pending(store, "0:mqtt") and len(sub.messages) == 3)
                finally:
                    sub.close()
    assert sorted(m.payload["hit"] for m in sub.messages) == hits
    assert {m.topic for m in sub.messages} == {"alpr/s1/cam-01/hit"}
    assert all(m.payload["console"].startswith(f"{CONSOLE}/hits/") for m in sub.messages)
    assert len(hooks) == 3, "the webhook got each alert once, no re-send"
    assert sorted(json.loads(body)["hit"] for _, body in hooks) == hits
    delivered = (
        store.connect()
        .execute(
            "SELECT target, count(*) FROM alerts WHERE delivered_at IS NOT NULL GROUP BY target"
        )
        .fetchall()
    )
    assert {r[0]: r[1] for r in delivered} == {"0:mqtt": 3, "1:webhook": 3, "2:log": 3}
    logged = [r.getMessage() for r in caplog.records if "ALERT hit" in r.getMessage()]
    assert len(logged) == 3
    for message in logged:
        assert message.startswith(VERIFY_REMINDER)
        assert f"console: {CONSOLE}/hits/" in message


def test_a_dead_mail_server_retries_until_it_answers(tmp_path: Path) -> None:
    """SMTP port refusing: the log delivers at once, the mail is retried and sent once it is up."""
    port = free_port()
    write_secret(tmp_path, "smtp.key", "smtp-pass-93a")
    config = load(
        write_config(
            tmp_path,
            extra=(
                f'[[alerts]]\nkind = "email"\nhost = "localhost"\nport = {port}\n'
                'starttls = false\nfrom = "alpr@county.example"\nto = ["watch@county.example"]\n\n'
                '[[alerts]]\nkind = "log"\n'
            ),
        )
    )
    store = Store(config.data_dir)
    record_hit(store, config, "KXR482", "stolen-vehicle")
    with dispatching(config, store):
        assert wait_for(lambda: not pending(store, "1:log"))
        assert wait_for(lambda: pending(store, "0:email")[0]["attempts"] >= 2)
        assert "Connection refused" in pending(store, "0:email")[0]["last_error"]
        with smtp_server(tmp_path, starttls=False, port=port) as (_, mails):
            assert wait_for(lambda: not pending(store, "0:email"), 30)
    assert len(mails) == 1 and mails[0].recipients == ["watch@county.example"]


# -- config ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert", "message"),
    [
        ('kind = "mqtt"\nport = 1883\n', "alerts[0]: host: required with kind = 'mqtt'"),
        (
            'kind = "mqtt"\nhost = "b"\nto = ["a@b.example"]\n',
            "alerts[0]: to: not a key of kind = 'mqtt'",
        ),
        (
            'kind = "mqtt"\nhost = "b"\ntopic_prefix = "alpr/#"\n',
            "alerts[0].topic_prefix: an MQTT topic prefix without +, #",
        ),
        (
            'kind = "email"\nhost = "m"\nto = ["w@c.example"]\n',
            "alerts[0]: from: required with kind = 'email'",
        ),
        (
            'kind = "email"\nhost = "m"\nfrom = "a@c.example"\n',
            "alerts[0]: to: give at least one address",
        ),
        (
            'kind = "email"\nhost = "m"\nfrom = "a@c.example"\nto = ["not an address"]\n',
            "alerts[0].to[0]: expected one mail address",
        ),
        (
            'kind = "email"\nhost = "m"\nfrom = "a@c.example"\nto = ["w@c.example"]\nrecipients = { stolen = ["x@c.example"] }\n',
            "alerts[0].recipients: 'stolen' is not a hot-list category",
        ),
        ('kind = "log"\nhost = "m"\n', "alerts[0]: host: not a key of kind = 'log'"),
        (
            'kind = "mqtt"\nhost = "b"\npassword = "env:ALPR_TEST_NO_SUCH_VAR"\nusername = "u"\n',
            "alerts[0].password: environment variable ALPR_TEST_NO_SUCH_VAR is not set",
        ),
        ('kind = "mqtt"\nhost = "b"\nport = 70000\n', "alerts[0].port: 70000 is out of range"),
    ],
)
def test_bad_channel_config_is_refused_naming_the_key(
    tmp_path: Path, alert: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path, extra=f"[[alerts]]\n{alert}"))
    assert message in str(info.value)


def test_console_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"console.url: expected an https:// URL"):
        load(write_config(tmp_path, extra='[console]\nurl = "alpr.county.example"\n'))
