"""The site plan: each kind of error is named; the map renders with what it should show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from gateway.config import load
from tools.field.sites import check_plan

LAT, LON = 40.10, -88.20
D = 0.02  # about 2.2 km north-south, 1.7 km east-west


def square(lat: float, lon: float, d: float) -> dict[str, object]:
    ring = [
        [lon - d, lat - d],
        [lon + d, lat - d],
        [lon + d, lat + d],
        [lon - d, lat + d],
        [lon - d, lat - d],
    ]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}


def plan(tmp: Path, sites: str) -> Path:
    (tmp / "city.geojson").write_text(json.dumps(square(LAT, LON, D)))
    (tmp / "east.geojson").write_text(json.dumps(square(LAT, LON + 2 * D, D)))
    (tmp / "west.geojson").write_text(json.dumps(square(LAT, LON - 2 * D, D)))
    path = tmp / "plan.toml"
    path.write_text(f"""
[agency]
name = "Plan PD"
boundary = "city.geojson"
coordination_distance_m = 300

[[agency.neighbours]]
name = "East County SO"
contact = "Lt. Moss, 555-0101"
boundary = "east.geojson"

[[agency.neighbours]]
name = "West City PD"
contact = "Sgt. Kim, 555-0102"
boundary = "west.geojson"
{sites}
""")
    return path


def site(
    sid: str,
    lat: float,
    lon: float,
    heading: float,
    status: str = "installed",
    approved: bool = True,
) -> str:
    approval = 'approved_by = "Chief Ortiz"\napproved_on = 2026-10-01\n' if approved else ""
    return (
        f'\n[[sites]]\nid = "{sid}"\nname = "{sid}"\nlat = {lat}\nlon = {lon}\nheading = {heading}\n'
        f'lanes = 2\npurpose = "arterial into downtown"\nstatus = "{status}"\n{approval}'
    )


GOOD = (
    site("a", LAT, LON, 0)
    + site("b", LAT + 0.005, LON, 90)
    + site("c", LAT - 0.005, LON + 0.005, 180, "planned", False)
)


def alpr_sites(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", "sites", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_good_plan_passes(tmp_path: Path) -> None:
    report = check_plan(load(plan(tmp_path, GOOD), strict=False))
    assert report.errors == []
    assert report.coordination == []


def test_each_error_is_named(tmp_path: Path) -> None:
    bad = (
        GOOD
        + site("outside", LAT + 0.1, LON, 0)
        + site("a", LAT + 0.01, LON - 0.01, 0)  # duplicate id
        + site("unapproved", LAT - 0.01, LON - 0.01, 0, approved=False)
        + site("twin", LAT + 0.0001, LON + 0.0001, 10)  # same view as "a"
        + site("edge", LAT, LON + D - 0.002, 0)
    )  # about 170 m from the east line
    report = check_plan(load(plan(tmp_path, bad), strict=False))
    text = "\n".join(report.errors)
    assert "site outside: outside the jurisdiction boundary" in text
    assert "site a: duplicate id (2 sites share it)" in text
    assert "site unapproved: installed without an approval" in text
    assert "site twin: view cone overlaps site a (duplicate coverage)" in text
    assert len(report.errors) == 4
    assert report.coordination == [
        "site edge: 170 m from the boundary; coordinate with East County SO (Lt. Moss, 555-0101)"
    ]
    out = alpr_sites("check", "--config", str(plan(tmp_path, bad)))
    assert out.returncode == 1 and "4 errors" in out.stdout


def test_map_renders(tmp_path: Path) -> None:
    config = plan(tmp_path, GOOD)
    png = tmp_path / "map.png"
    out = alpr_sites("map", "--config", str(config), "--out", str(png))
    assert out.returncode == 0, out.stderr
    assert "NOT APPROVED" in out.stdout  # the table printed beside the map
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] >= 400 and img.shape[1] >= 800
    # the installed sites' green and the planned site's blue are drawn, and the boundary's fill
    green = np.all(np.abs(img.astype(int) - [44, 160, 44]) < 30, axis=2).sum()
    blue = np.all(np.abs(img.astype(int) - [180, 119, 31]) < 30, axis=2).sum()
    fill = np.all(np.abs(img.astype(int) - [224, 239, 243]) < 6, axis=2).sum()
    assert green > 100 and blue > 50 and fill > 10_000
    html = tmp_path / "map.html"
    assert alpr_sites("map", "--config", str(config), "--out", str(html)).returncode == 0
    assert "<svg" in html.read_text() and "Chief Ortiz" in html.read_text()
