"""Each alert channel reaches the audience it is configured for: hits go to the officers' channels,
notices for managers (a stale hot list, a hit left open) to the managers'."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_helpers import write_config

from gateway.alerts import queue_alerts
from gateway.config import ConfigError, load
from gateway.store import Store

CHANNELS = """
[[alerts]]
kind = "log"
audience = ["officers"]

[[alerts]]
kind = "log"
audience = ["managers"]

[[alerts]]
kind = "log"
"""


def test_hits_and_notices_reach_their_own_channels(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, extra=CHANNELS))
    db = Store(tmp_path / "data").connect()
    db.execute("PRAGMA foreign_keys=OFF")  # a hit row is not what this test is about
    queue_alerts(db, 1, {"type": "hit", "read": {"text": "KXR482"}}, config.alerts, 0.0)
    queue_alerts(db, None, {"type": "stale-list", "audience": "manager"}, config.alerts, 0.0)
    rows = db.execute("SELECT hit_id, target FROM alerts ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(1, "0:log"), (1, "2:log"), (None, "1:log"), (None, "2:log")]


@pytest.mark.parametrize(
    ("audience", "message"),
    [("[]", "audience"), ('["chiefs"]', "audience"), ('"officers"', "audience")],
)
def test_a_bad_audience_is_refused_by_name(tmp_path: Path, audience: str, message: str) -> None:
    path = write_config(tmp_path, extra=f'[[alerts]]\nkind = "log"\naudience = {audience}\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert message in str(info.value)
