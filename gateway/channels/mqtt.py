"""MQTT (paho-mqtt 2): hits as JSON on `<prefix>/<site>/<camera>/hit` (QoS 1, not retained) and
each camera's latest heartbeat on `<prefix>/<camera>/health` (QoS 1, retained, so a dashboard that
subscribes later still sees every camera's state).

One connection is kept open between deliveries; any failure drops it and the next try reconnects.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.channels.base import Channel


def topic_part(name: str) -> str:
    """A site or camera id as one topic level: no separators or wildcards inside it."""
    return "".join("_" if c in "/+#\0" else c for c in name) or "_"


class MqttChannel(Channel):
    wants_health = True

    _client: mqtt.Client | None = None

    def hit_topic(self, site: str, camera: str) -> str:
        return f"{self.target.topic_prefix}/{topic_part(site)}/{topic_part(camera)}/hit"

    def health_topic(self, camera: str) -> str:
        return f"{self.target.topic_prefix}/{topic_part(camera)}/health"

    def send(self, payload: dict[str, Any], body: str) -> None:
        if payload.get("type", "hit") != "hit":  # stale list, overdue hit: <prefix>/notice/<type>
            self.publish(f"{self.target.topic_prefix}/notice/{payload['type']}", body, retain=False)
            return
        read = payload["read"]
        self.publish(self.hit_topic(str(read["site"]), str(read["camera"])), body, retain=False)

    def health(self, camera: str, status: dict[str, Any]) -> None:
        self.publish(self.health_topic(camera), json.dumps(status), retain=True)

    def publish(self, topic: str, data: str, retain: bool) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK; raise if it does not come in time."""
        try:
            client = self.connect()
            info = client.publish(topic, data, qos=1, retain=retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
            info.wait_for_publish(timeout=self.timeout_s)
            if not info.is_published():
                raise TimeoutError(f"no PUBACK from {self.address} within {self.timeout_s:g} s")
        except BaseException:
            self.close()
            raise

    @property
    def address(self) -> str:
        return f"mqtt broker {self.target.host}:{self.target.server_port}"

    def connect(self) -> mqtt.Client:
        """The open connection, or a new one once the broker has accepted it (CONNACK)."""
        if self._client is not None and self._client.is_connected():
            return self._client
        self.close()
        target = self.target
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=target.client_id,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,  # the outbox retries, with backoff
        )
        client.connect_timeout = self.timeout_s
        if target.username is not None:
            client.username_pw_set(target.username, self.password())
        if target.tls:
            client.tls_set(ca_certs=str(target.ca_file) if target.ca_file else None)
        answered = threading.Event()
        outcome: list[ReasonCode] = []

        def on_connect(
            _c: mqtt.Client,
            _u: object,
            _f: mqtt.ConnectFlags,
            code: ReasonCode,
            _p: Properties | None,
        ) -> None:
            outcome.append(code)
            answered.set()

        def on_disconnect(
            _c: mqtt.Client,
            _u: object,
            _f: mqtt.DisconnectFlags,
            _code: ReasonCode,
            _p: Properties | None,
        ) -> None:
            answered.set()  # closed before or after its CONNACK: no need to wait any longer

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        try:
            client.connect(str(target.host), target.server_port, keepalive=60)
        except OSError as exc:
            raise ConnectionError(f"cannot reach {self.address}: {exc}") from None
        self._client = client
        client.loop_start()
        if not answered.wait(self.timeout_s):
            raise TimeoutError(f"{self.address} did not answer within {self.timeout_s:g} s")
        if not outcome:
            raise ConnectionError(f"{self.address} closed the connection without answering")
        if outcome[0].is_failure:
            raise ConnectionError(f"{self.address} refused the connection: {outcome[0]}")
        return client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
