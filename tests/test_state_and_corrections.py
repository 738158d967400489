"""The state of issuance at match time, and officers' corrections kept for training."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from access_helpers import Team
from gateway_helpers import load_config, write_config
from sync_helpers import make_read

from gateway import corrections, hit_events, review
from gateway.alert_message import STATE_DIFFERS, build_payload
from gateway.hotlist import Matcher, make_entry
from gateway.pipeline import BestRead, MatcherCache, ReaderWorker
from gateway.reader.reader import PlateRead, ReaderConfig
from gateway.store import Store

FUTURE = "2999-01-01"


def test_matcher_marks_a_state_mismatch_and_keeps_the_hit() -> None:
    m = Matcher([(1, "ABC123", FUTURE, "CA"), (2, "XYZ789", FUTURE, None), (3, "QRS456", FUTURE)])
    other = m.match("ABC123", state="NV")
    assert [(h.entry_id, h.state_differs) for h in other] == [(1, True)]
    assert [h.state_differs for h in m.match("ABC123", state="ca")] == [False]
    assert [h.state_differs for h in m.match("ABC123", state=None)] == [False]
    assert [h.state_differs for h in m.match("XYZ789", state="NV")] == [False]  # entry names none
    assert [h.state_differs for h in m.match("QRS456", state="NV")] == [False]


def test_payload_says_state_differs() -> None:
    entry = {
        k: "x"
        for k in (
            "id",
            "source",
            "plate",
            "state",
            "category",
            "case_number",
            "reason",
            "requested_by",
            "contact",
            "instructions",
            "expires",
        )
    }
    marked = build_payload(1, "exact", "ABC123", {"state": "NV"}, entry, state_differs=True)
    assert marked["state_differs"] is True and marked["notes"] == [STATE_DIFFERS]
    assert build_payload(1, "exact", "ABC123", {}, entry)["notes"] == []


def test_pipeline_records_a_state_mismatch_as_a_marked_hit(tmp_path: Path) -> None:
    config = load_config(tmp_path, extra='[[alerts]]\nkind = "log"\n')
    store = Store(config.data_dir)
    fields = {
        "plate": "ABC123",
        "state": "CA",
        "category": "stolen-vehicle",
        "case_number": "1",
        "reason": "r",
        "requested_by": "d",
        "contact": "c",
        "instructions": "i",
        "expires": FUTURE,
    }
    review.approve_source(store, "local", "mgr")  # only approved lists alert
    store.replace_hotlist("local", [make_entry(fields, "local")])
    db = store.connect()
    db.execute(
        "INSERT INTO events (camera, sequence, captured, received, trigger, frames, body_sha256,"
        " path, status, response) VALUES ('cam-01', 7, ?, ?, 'radar', 1, 'abc', 'x', 'pending', '{}')",
        (time.time(), time.time()),
    )
    event = db.execute("SELECT * FROM events").fetchone()
    worker = ReaderWorker(
        config,
        store,
        MatcherCache(store, 1),
        set(),
        threading.Lock(),
        threading.Event(),
        ReaderConfig(),
    )
    jpeg = cv2.imencode(".jpg", np.full((40, 80, 3), 200, np.uint8))[1].tobytes()
    read = PlateRead("ABC123", 0.9, (0, 0, 80, 40), [], "NV", 0.8)
    worker.record(event, config.cameras["cam-01"], BestRead(read, jpeg, jpeg))
    hit = db.execute("SELECT state_differs FROM hits").fetchone()
    assert hit is not None and hit["state_differs"] == 1
    alert = json.loads(db.execute("SELECT payload FROM alerts").fetchone()["payload"])
    assert alert["state_differs"] is True and alert["read"]["state"] == "NV"
    stored = db.execute("SELECT state, state_confidence FROM reads").fetchone()
    assert tuple(stored) == ("NV", 0.8)


def test_corrections_are_stored_from_the_cli(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = write_config(tmp_path)
    team = make_team(config)
    store = Store(load_config(tmp_path).data_dir)
    read_id = make_read(store, text="A8C123")
    code, _, err = team.cli(
        "reads", "correct", read_id, "--text", "abc123", "--config", str(config), user="ofc"
    )
    assert code == 0, err
    folder = store.root / corrections.FOLDER
    rows = list(csv.DictReader((folder / "labels.csv").read_text().splitlines()))
    assert [(r["file"], r["plate"], r["read_text"], r["user"]) for r in rows] == [
        (f"{read_id}.jpg", "ABC123", "A8C123", "ofc")
    ]
    crop = store.connect().execute("SELECT crop_path FROM reads").fetchone()["crop_path"]
    assert (folder / f"{read_id}.jpg").read_bytes() == (store.root / crop).read_bytes()
    assert [r["action"] for r in team.records(user="ofc")][-1] == "reads correct"
    code, _, err = team.cli(
        "reads", "correct", read_id, "--text", "AB-C!", "--config", str(config), user="ofc"
    )
    assert code == 2 and "is not 1-10 letters and digits" in err
    code, _, err = team.cli(
        "reads", "correct", "nope", "--text", "ABC1", "--config", str(config), user="ofc"
    )
    assert code == 2 and "no read 'nope'" in err


def test_a_misread_disposition_with_text_stores_a_correction(
    tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config = write_config(tmp_path)
    team = make_team(config)
    store = Store(load_config(tmp_path).data_dir)
    read_id = make_read(store, text="A8C123")
    db = store.connect()
    db.execute(
        "INSERT INTO hits (read_id, entry_id, entry, match_kind, matched_text, created)"
        " VALUES (?, 1, '{}', 'confusion', 'A8C123', 0)",
        (read_id,),
    )
    hit = ("hits", "disposition", "1", "--note", "plate is ABC124", "--config", str(config))
    code, _, err = team.cli(*hit, "--status", "confirmed", "--text", "ABC123", user="ofc")
    assert code == 2 and "only for --status misread" in err
    hit_events.verify(store, 1, "ofc", "NCIC", "mismatch")  # a hit is closed after its check
    code, _, err = team.cli(*hit, "--status", "misread", "--text", "ABC124", user="ofc")
    assert code == 0, err
    assert [(r["plate"], r["user"]) for r in corrections.rows(store)] == [("ABC124", "ofc")]


def test_training_draws_the_corrections(tmp_path: Path) -> None:
    from tools.train import ocr as train_ocr

    store = Store(tmp_path / "data")
    for i, text in enumerate(["ABC123", "XYZ789"]):
        corrections.add(store, make_read(store, text="WRONG1", seed=i), text, "u")
    fixes = train_ocr.load_corrections(store.root / corrections.FOLDER)
    assert sorted(t for _, t in fixes) == ["ABC123", "XYZ789"]
    reals = [(np.full((40, 90, 3), 255, np.uint8), "REAL12")]
    train_ocr._init_worker(reals, [], [], fixes)
    _, texts = train_ocr._make_chunk((1, 400))
    share = sum(t in {"ABC123", "XYZ789"} for t in texts) / len(texts)
    assert 0.08 < share < 0.25, f"corrections were {share:.0%} of the samples"
