"""The transparency site and the board report show the counts of a seeded store, checked by
parsing their HTML; the site is offline (no script, nothing fetched from elsewhere)."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dept_helpers import Cells, Dept, make_dept
from sync_helpers import make_hit, make_read

from gateway.access import annual, audit
from gateway.hotlist import make_entry
from gateway.reports.board import year_period
from gateway.reports.charts import bar_chart

DAY = 86400.0


@dataclass
class Seed:
    dept: Dept
    now: float
    reads: list[tuple[float, str]]  # (captured, site)
    hits: list[tuple[float, str, str | None]]  # (captured, site, disposition)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    """Reads and hits inside and outside the last 30 days, searches with purposes, one release,
    and an annual audit with one improper finding."""
    for dept in make_dept(tmp_path_factory):
        now = time.time()
        store = dept.store
        entry = store.add_hotlist_entry(make_entry({
            "plate": "RPT*", "category": "stolen-vehicle", "case_number": "26-9",
            "reason": "stolen", "requested_by": "Det. Ray", "contact": "555-0100",
            "instructions": "confirm", "expires": "2099-01-01",
        }, "manual"))  # fmt: skip
        seed = Seed(dept, now, [], [])
        plan = [  # (days ago, site, disposition or "" for no hit)
            (1, "s1", "confirmed"), (2, "s1", "not-located"), (3, "s1", None), (4, "s1", ""),
            (5, "s2", ""), (40, "s1", "misread"), (45, "s1", ""),
        ]  # fmt: skip
        for i, (ago, site, disposition) in enumerate(plan):
            captured = now - ago * DAY
            camera = "cam-02" if site == "s2" else "cam-01"
            rid = make_read(store, captured, f"RPT{i:03d}", seed=60 + i, camera=camera, site=site)
            seed.reads.append((captured, site))
            if disposition != "":
                make_hit(store, rid, entry, disposition=disposition)
                seed.hits.append((captured, site, disposition))
        for purpose in ("stolen vehicle", "stolen vehicle", "missing person"):
            audit.append(dept.db, "inv", "search", kind="inquiry", what={"purpose": purpose},
                         why="case 26-0042", result_count=1)  # fmt: skip
        audit.append(dept.db, "inv", "reads list", kind="inquiry", why="case 26-0043")
        out = dept.ok(
            "share", "request", "--agency", "Northbrook PD", "--requester", "Det. Park",
            "--contact", "555-0199", "--purpose", "theft", "--case", "NB-1", "--plate", "RPT000",
            as_user="inv",
        )  # fmt: skip
        share_id = out.split()[2]
        dept.ok("share", "approve", share_id, "--verified-by", "call-back", as_user="mgr")
        dept.ok("share", "fulfil", share_id, "--out", str(dept.root / "release"), as_user="inv")
        sample = annual.sample(
            dept.db, audit.iso(now - 10 * DAY), audit.iso(now + DAY), 2, "seed-1", "aud", "test"
        )
        first = annual.items(dept.db, sample)[0]
        annual.finding(dept.db, first["id"], "improper", "no case on file", "aud", "test")
        yield seed


def rows(cells: Cells, table: str) -> dict[str, list[str]]:
    return {r[0]: r[1:] for r in cells.tables[table][1:]}


def chart_values(html: str, title: str) -> dict[str, int]:
    svg = re.search(rf'<svg[^>]*aria-label="{re.escape(title)}".*?</svg>', html, re.S)
    assert svg is not None, title
    found = re.findall(r'<g data-label="([^"]*)" data-value="(\d+)">', svg.group(0))
    return {label: int(v) for label, v in found}


def test_transparency_site_counts(seeded: Seed, tmp_path: Path) -> None:
    dept, since = seeded.dept, seeded.now - 30 * DAY
    out = tmp_path / "site"
    code, _, err = dept.run("report", "transparency", "--out", str(out), as_user="ofc")
    assert code != 0 and "may not reports.publish" in err
    dept.ok("report", "transparency", "--out", str(out), as_user="aud")
    html = (out / "index.html").read_text()
    cells = Cells(html)
    recent = [r for r in seeded.reads if r[0] >= since]
    recent_hits = [h for h in seeded.hits if h[0] >= since]
    assert cells.text("reads") == str(len(recent)) and cells.text("hits") == str(len(recent_hits))
    outcomes = {k: int(v[0]) for k, v in rows(cells, "outcomes").items()}
    for name in ("confirmed", "not-located", "misread"):
        assert outcomes[name] == sum(1 for h in recent_hits if h[2] == name)
    assert outcomes["open"] == sum(1 for h in recent_hits if h[2] is None)
    assert chart_values(html, "Hits by outcome") == outcomes
    by_site = {k: int(v[0]) for k, v in rows(cells, "reads-by-site").items()}
    assert by_site == {s: sum(1 for r in recent if r[1] == s) for s in ("s1", "s2", "s3")}
    assert rows(cells, "cameras") == {
        "planned": ["0", "1"], "installed": ["1", "1"], "retired": ["1", "1"]
    }  # fmt: skip
    assert rows(cells, "searches") == {"stolen vehicle": ["2"], "missing person": ["1"]}
    assert rows(cells, "shares") == {"Northbrook PD": ["1", "1"]}
    assert rows(cells, "retention")["Plate reads (images and text)"] == ["30 days, then deleted"]
    assert cells.text("allowed") == "stolen vehicles missing persons"
    assert "immigration enforcement" in cells.text("prohibited")
    assert cells.text("last-audit") == dt.datetime.now(dt.UTC).date().isoformat()
    assert list(rows(cells, "sites")) == ["s1"]  # installed sites only
    assert (out / "map.svg").is_file() and 'src="map.svg"' in html
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert (out / "figures.json").is_file()


def test_board_report_counts_and_integrity(seeded: Seed, tmp_path: Path) -> None:
    dept = seeded.dept
    year = dt.datetime.fromtimestamp(seeded.now, dt.UTC).year
    period = year_period(year)
    out = tmp_path / "board.html"
    dept.ok("report", "board", "--year", str(year), "--out", str(out), as_user="mgr")
    cells = Cells(out.read_text())
    hits = [h for h in seeded.hits if period.start <= h[0] < period.end]
    reads = [r for r in seeded.reads if period.start <= r[0] < period.end]
    assert cells.text("reads") == str(len(reads)) and cells.text("hits") == str(len(hits))
    outcomes = {k: int(v[0]) for k, v in rows(cells, "outcomes").items()}
    assert outcomes["misread"] == sum(1 for h in hits if h[2] == "misread")
    assert outcomes["open"] == sum(1 for h in hits if h[2] is None)
    assert cells.text("arrests") == "not recorded" and cells.text("recoveries") == "not recorded"
    [audit_row] = cells.tables["audits"][1:]
    assert audit_row[4:9] == ["2", "0", "1", "0", "1"]  # sampled, proper, improper, follow-up, open
    assert cells.text("integrity").startswith("The audit log verifies")
    assert rows(cells, "shares") == {"Northbrook PD": ["1", "1"]}
    conn = dept.db.connect()
    why = conn.execute("SELECT why FROM audit WHERE seq=2").fetchone()[0]
    conn.execute("UPDATE audit SET why='edited' WHERE seq=2")
    try:
        dept.ok("report", "board", "--year", str(year), "--out", str(out), as_user="mgr")
        assert Cells(out.read_text()).text("integrity").startswith("The audit log does not verify")
    finally:
        conn.execute("UPDATE audit SET why=? WHERE seq=2", (why,))


def test_bar_chart_scales_and_escapes() -> None:
    svg = str(bar_chart([("a<b", 10), ("c", 5), ("zero", 0)], "T & U"))
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1] and widths[2] == 0
    assert "a&lt;b" in svg and 'aria-label="T &amp; U"' in svg
