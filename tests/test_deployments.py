"""Special details are approved and keep their results; captures from cameras at retired or
planned sites are read, flagged and counted."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from dept_helpers import Dept, make_dept
from gateway_helpers import scene_jpeg
from sync_helpers import make_hit, make_read

from gateway import protocol, site_status
from gateway.access import audit
from gateway.config import load
from gateway.hotlist import make_entry
from gateway.pipeline import MatcherCache, ReaderWorker
from gateway.reader.reader import ReaderConfig
from tools.ops.gateway_cmd import gateway_status


@pytest.fixture(scope="module")
def dept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dept]:
    yield from make_dept(tmp_path_factory)


def capture(dept: Dept, camera: str, seq: int, text: str) -> dict[str, object]:
    """A signed-in capture as ingest stores it, then read by a real reader worker."""
    frames = [scene_jpeg(text, seed=seq)]
    meta = {"captured": time.time(), "trigger": "radar", "battery_v": 3.9, "solar_v": 5.0}
    meta["frames"] = len(frames)
    dept.store.add_event(camera, seq, meta, protocol.encode_event(meta, frames))
    row = (
        dept.store.connect()
        .execute("SELECT * FROM events WHERE camera=? AND sequence=?", (camera, seq))
        .fetchone()
    )
    worker = ReaderWorker(
        load(dept.config), dept.store, MatcherCache(dept.store, 1), set(), threading.Lock(),
        threading.Event(), ReaderConfig(),
    )  # fmt: skip
    worker.process(row)
    return dict(row)


def test_capture_from_a_retired_site_is_flagged(
    dept: Dept, caplog: pytest.LogCaptureFixture
) -> None:
    before = gateway_status(dept.store)
    with caplog.at_level(logging.WARNING, logger="alpr.pipeline"):
        installed = capture(dept, "cam-01", 1, "KDX4821")
        retired = capture(dept, "cam-02", 1, "RTD5530")
    flags = dept.store.connect().execute("SELECT * FROM capture_flags").fetchall()
    assert [(f["event_id"], f["site"], f["site_status"]) for f in flags] == [
        (retired["id"], "s2", "retired")
    ]
    read = (
        dept.store.connect()
        .execute("SELECT id, text FROM reads WHERE event_id=?", (retired["id"],))
        .fetchone()
    )
    assert read is not None and flags[0]["read_id"] == read["id"]
    assert site_status.read_status(dept.store, read["id"]) == "retired"
    installed_read = (
        dept.store.connect()
        .execute("SELECT id FROM reads WHERE event_id=?", (installed["id"],))
        .fetchone()
    )
    assert site_status.read_status(dept.store, installed_read["id"]) is None
    assert any("site s2, whose status is retired" in r.getMessage() for r in caplog.records)
    after = gateway_status(dept.store)
    assert after["captures_site_retired"] == before["captures_site_retired"] + 1
    assert after["captures_site_planned"] == before["captures_site_planned"]
    shown = json.loads(dept.ok("gateway", "status", "--json", as_user="tech"))
    assert shown["captures_site_retired"] == after["captures_site_retired"]
    text = dept.ok("gateway", "status", as_user="tech")
    assert "captures from cameras at retired sites" in text


def test_detail_needs_approval_and_keeps_its_results(dept: Dept) -> None:
    now = time.time()
    start, end = now - 3 * 86400, now - 86400
    code, _, err = dept.run("deployments", "add", "--purpose", "x", "--start", str(start),
                            "--end", str(end), as_user="inv")  # fmt: skip
    assert code == 2 and "--site" in err
    out = dept.ok(
        "deployments", "add", "--purpose", "fair week: stolen-vehicle detail", "--start",
        str(start), "--end", str(end), "--site", "s3", as_user="inv",
    )  # fmt: skip
    dep_id = int(out.split()[1])
    entry_id = dept.store.add_hotlist_entry(make_entry({
        "plate": "DTL001", "category": "stolen-vehicle", "case_number": "26-1", "reason": "stolen",
        "requested_by": "Det. Ray", "contact": "555-0100", "instructions": "confirm",
        "expires": "2099-01-01",
    }, "manual"))  # fmt: skip
    for i, disposition in enumerate(("confirmed", "misread", None)):
        rid = make_read(dept.store, start + 3600 * (i + 1), "DTL001", seed=40 + i, site="s3")
        make_hit(dept.store, rid, entry_id, disposition=disposition)
    make_read(dept.store, start + 100, "DTL999", seed=50, site="s1")  # another site
    make_read(dept.store, end + 100, "DTL998", seed=51, site="s3")  # after the detail
    report = json.loads(dept.ok("deployments", "report", "--json", as_user="mgr"))
    assert dep_id not in [d["id"] for d in report["details"]]  # not approved yet
    code, _, err = dept.run("deployments", "approve", str(dep_id), as_user="inv")
    assert code != 0 and "may not deployments.approve" in err
    dept.ok("deployments", "approve", str(dep_id), "--note", "chief's order 26-4", as_user="mgr")
    report = json.loads(dept.ok("deployments", "report", "--json", as_user="mgr"))
    [detail] = [d for d in report["details"] if d["id"] == dep_id]
    assert detail["state"] == "ended" and detail["decided_by"] == "mgr"
    assert detail["results"]["reads"] == 3 and detail["results"]["hits"] == 3
    outcomes = detail["results"]["by_outcome"]
    assert (outcomes["confirmed"], outcomes["misread"], outcomes["open"]) == (1, 1, 1)
    assert report["sites"]["s3"]["reads"] == 4 and report["sites"]["s3"]["hits"] == 3
    # kept: the reads are purged, the detail's results stay
    dept.store.connect().execute("DELETE FROM reads WHERE site='s3'")
    report = json.loads(dept.ok("deployments", "report", "--json", as_user="mgr"))
    [detail] = [d for d in report["details"] if d["id"] == dep_id]
    assert detail["results"]["reads"] == 3 and detail["results_at"]
    text = dept.ok("deployments", "report", as_user="mgr")
    assert "fair week" in text and "s2 (retired)" in text
    acts = [r["action"] for r in audit.records(dept.db)
            if json.loads(r["what"]).get("deployment") == dep_id]  # fmt: skip
    assert acts == ["deployment add", "deployment approve"]
