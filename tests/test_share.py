"""`alpr share`: nothing leaves without an approval, an agency without an MOU needs the chief, the
package's hashes prove its files, and every step is in the audit log and the dissemination log."""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dept_helpers import Cells, Dept, make_dept
from sync_helpers import make_read

from gateway.access import audit
from gateway.sharing import requests


@pytest.fixture(scope="module")
def dept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dept]:
    yield from make_dept(tmp_path_factory)


def request(dept: Dept, agency: str, *query: str) -> int:
    out = dept.ok(
        "share", "request", "--agency", agency, "--requester", "Det. J. Park",
        "--contact", "555-0199", "--purpose", "stolen vehicle investigation",
        "--case", "NB-26-117", *query, as_user="inv",
    )  # fmt: skip
    return int(out.split()[2])


def actions(dept: Dept, share_id: int) -> list[str]:
    return [
        r["action"]
        for r in audit.records(dept.db)
        if json.loads(r["what"]).get("share") == share_id
    ]


def test_share_without_approval_cannot_be_fulfilled(dept: Dept, tmp_path: Path) -> None:
    now = time.time()
    make_read(dept.store, captured=now - 600, text="SHR001", seed=1)
    share_id = request(dept, "Northbrook PD", "--plate", "SHR001")
    out = tmp_path / "release"
    code, _, err = dept.run("share", "fulfil", str(share_id), "--out", str(out), as_user="inv")
    assert code == 2 and "must be approved first" in err
    assert not out.exists()
    dept.ok("share", "approve", str(share_id), "--verified-by", "call-back to NB dispatch",
            as_user="mgr")  # fmt: skip
    printed = dept.ok("share", "fulfil", str(share_id), "--out", str(out), as_user="inv")
    assert "1 reads, 3 files" in printed
    code, _, err = dept.run("share", "fulfil", str(share_id), "--out", str(tmp_path / "again"),
                            as_user="inv")  # fmt: skip
    assert code == 2 and "released already" in err
    assert actions(dept, share_id) == [
        "share request", "share release refused", "share approve", "share release",
        "share release refused",
    ]  # fmt: skip
    assert audit.verify(dept.db).ok


def test_denied_share_cannot_be_fulfilled(dept: Dept, tmp_path: Path) -> None:
    share_id = request(dept, "Northbrook PD", "--plate", "SHR001")
    dept.ok("share", "deny", str(share_id), "--reason", "no case on file", as_user="mgr")
    code, _, err = dept.run("share", "fulfil", str(share_id), "--out", str(tmp_path / "x"),
                            as_user="inv")  # fmt: skip
    assert code == 2 and "is denied" in err


def test_non_mou_release_needs_the_chief_and_a_note(dept: Dept, tmp_path: Path) -> None:
    make_read(dept.store, captured=time.time() - 300, text="SHR002", seed=3)
    share_id = request(dept, "State Police", "--plate", "SHR002")
    code, _, err = dept.run("share", "approve", str(share_id), "--verified-by", "badge check",
                            as_user="mgr")  # fmt: skip
    assert code == 2 and "has no MOU on file" in err and "chief (admin role)" in err
    assert requests.get(dept.db, share_id)["status"] == "requested"
    code, _, err = dept.run("share", "approve", str(share_id), "--verified-by", "badge check",
                            as_user="boss")  # fmt: skip
    assert code == 2 and "needs a --note" in err
    printed = dept.ok(
        "share", "approve", str(share_id), "--verified-by", "badge check in person",
        "--note", "MOU in signature; life-safety case", as_user="boss",
    )  # fmt: skip
    assert "no MOU: release approved by boss (admin)" in printed
    out = tmp_path / "sp"
    dept.ok("share", "fulfil", str(share_id), "--out", str(out), as_user="inv")
    cover = Cells((out / "cover.html").read_text())
    assert cover.text("agency") == "State Police"
    assert cover.text("approver").startswith("boss, ")
    assert "approved by the chief (boss)" in cover.text("no-mou")
    assert "share approve refused" in actions(dept, share_id)
    log = {r["share_id"]: r for r in requests.dissemination_log(dept.db)}
    assert log[share_id]["mou"].startswith("no MOU: release approved by boss (admin)")
    assert log[share_id]["approved_by"] == "boss" and log[share_id]["released_by"] == "inv"


def test_manifest_hashes_match_the_files(dept: Dept, tmp_path: Path) -> None:
    start = time.time() - 7200
    ids = [make_read(dept.store, captured=start + i * 60, text=f"HSH{i}00", seed=10 + i)
           for i in range(3)]  # fmt: skip
    make_read(dept.store, captured=start + 30, text="OTHER1", seed=20, camera="cam-02", site="s2")
    bad = dept.store.connect().execute("SELECT frame_path FROM reads WHERE id=?", (ids[2],))
    (dept.store.root / bad.fetchone()[0]).write_bytes(b"changed on disk")
    share_id = request(
        dept, "Northbrook PD", "--since", str(start - 1), "--until", str(start + 3600),
        "--site", "s1",
    )  # fmt: skip
    dept.ok("share", "approve", str(share_id), "--verified-by", "call-back", as_user="mgr")
    out = tmp_path / "hashes"
    dept.ok("share", "fulfil", str(share_id), "--out", str(out), as_user="inv")
    manifest_bytes = (out / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {str(p.relative_to(out)) for p in (out / "reads").iterdir()}
    assert listed == on_disk and len(listed) == 6  # two good reads; the changed one left out
    for f in manifest["files"]:
        data = (out / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    assert [x["read"] for x in manifest["left_out"]] == [ids[2]]
    assert "does not match its recorded SHA-256" in manifest["left_out"][0]["reason"]
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    sums = dict(
        reversed(line.split("  ")) for line in (out / "SHA256SUMS").read_text().splitlines()
    )
    assert sums["manifest.json"] == digest and len(sums) == 7
    cover = Cells((out / "cover.html").read_text())
    assert cover.text("manifest-sha256") == digest
    assert cover.text("reads") == "2" and cover.text("case") == "NB-26-117"
    hashes = {row[0]: row[1] for row in cover.tables["hashes"][1:]}
    assert hashes == {f["path"]: f["sha256"] for f in manifest["files"]}
    metas = [json.loads((out / p).read_text()) for p in sorted(listed) if p.endswith(".json")]
    assert {m["text"] for m in metas} == {"HSH000", "HSH100"}
    log = {r["share_id"]: r for r in requests.dissemination_log(dept.db)}
    assert log[share_id]["manifest_sha256"] == digest and log[share_id]["reads"] == 2


def test_share_log_csv_and_roles(dept: Dept, tmp_path: Path) -> None:
    code, _, err = dept.run("share", "request", "--agency", "X", "--requester", "Y", "--contact",
                            "Z", "--purpose", "P", "--case", "C", "--plate", "A1", as_user="ofc")  # fmt: skip
    assert code != 0 and "may not share.request" in err
    code, _, err = dept.run("share", "request", "--agency", "X", "--requester", "Y", "--contact",
                            "Z", "--purpose", "P", "--case", "C", as_user="inv")  # fmt: skip
    assert code == 2 and "names plates, or a time range" in err
    make_read(dept.store, captured=time.time() - 60, text="CSV001", seed=30)
    share_id = request(dept, "Northbrook PD", "--plate", "CSV001")
    dept.ok("share", "approve", str(share_id), "--verified-by", "call-back", as_user="mgr")
    dept.ok("share", "fulfil", str(share_id), "--out", str(tmp_path / "csv"), as_user="inv")
    path = tmp_path / "log.csv"
    dept.ok("share", "log", "--csv", str(path), as_user="aud")
    rows = list(csv.DictReader(path.open()))
    assert rows == [{k: str(v) for k, v in r.items()} for r in requests.dissemination_log(dept.db)]
    assert rows[-1]["share_id"] == str(share_id) and rows[-1]["agency"] == "Northbrook PD"
