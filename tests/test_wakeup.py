"""Readers and alert delivery wake on commits instead of polling: with their fallback look set to an
hour, a capture still becomes an alert at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gateway_helpers import scene_jpeg

from gateway import alerts, pipeline
from gateway.wakeup import Wakeup
from tools.demo import hotlist_csv, running_gateway, wait_until
from tools.field.camera_sim import CameraClient


def test_a_notify_before_the_wait_is_not_lost() -> None:
    wakeup = Wakeup()
    seen = wakeup.generation()
    wakeup.notify()  # the writer commits between the reader's look and its wait
    assert wakeup.wait(seen, timeout_s=0)
    assert not wakeup.wait(wakeup.generation(), timeout_s=0)


def test_capture_is_read_and_alerted_without_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "IDLE_LOOK_S", 3600.0)
    monkeypatch.setattr(alerts, "POLL_S", 3600.0)
    with running_gateway(tmp_path / "gw", hotlist_csv(["KXR482"])) as (gateway, sink):
        time.sleep(0.5)  # the reader and the dispatcher are waiting now, for up to an hour
        camera = next(iter(gateway.config.cameras))
        client = CameraClient(gateway.url, camera, gateway.config.secret(camera))
        status, _ = client.send_event(1, [scene_jpeg("KXR482", seed=1)])
        client.close()
        assert status == 201
        assert wait_until(lambda: len(sink.arrivals) == 1, 60), (
            "nobody woke the reader or the alert delivery"
        )
        assert sink.arrivals[0][1]["read"]["text"] == "KXR482"
