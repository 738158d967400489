"""`alpr power estimate` for the README's reference site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.cli import main
from tools.field import power


def test_more_events_cost_more_and_the_numbers_add_up() -> None:
    conf = {"burst": 3, "frame_size": "VGA", "jpeg_quality": 12, "heartbeat_s": 3600}
    few, many = power.estimate(conf, 50), power.estimate(conf, 500)
    assert many.day_wh > few.day_wh and many.autonomy_days < few.autonomy_days
    # deep sleep alone: 4.4 mA at 3.7 V for (almost) a day
    assert few.sleep_j_day / 3600 == pytest.approx(4.4e-3 * 3.7 * 24, rel=0.02)
    assert many.day_wh == pytest.approx((500 * many.event_j + 24 * many.heartbeat_j + many.sleep_j_day) / 3600)
    bigger = power.estimate({**conf, "frame_size": "UXGA"}, 500)
    assert bigger.event_j > many.event_j


def test_cli_prints_the_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.json"
    site.write_text(json.dumps({"burst": 3, "frame_size": "VGA", "heartbeat_s": 3600}))
    assert main(["power", "estimate", "--config", str(site), "--events-per-day", "500"]) == 0
    out = capsys.readouterr().out
    assert "per event" in out and "autonomy with no sun" in out and "panel needed" in out
