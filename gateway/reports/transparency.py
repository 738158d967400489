"""The public transparency site: one static, offline folder (index.html, the site map as SVG and
the figures as JSON) that a department can put on any web server or hand out on a stick."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.access.db import AccessDB
from gateway.config import Config
from gateway.reports import figures
from gateway.reports.render import environment
from gateway.results import Results, by_site, results
from gateway.store import Store

log = logging.getLogger("alpr.reports")
DAY_S = 86400
WINDOW_DAYS = 30


@dataclass
class Transparency:
    agency: str
    generated: str
    period: str
    period_days: int
    cameras_by_status: dict[str, int]
    sites_by_status: dict[str, int]
    totals: Results
    reads_by_site: dict[str, int]
    searches_by_purpose: dict[str, int]
    shares_by_agency: dict[str, dict[str, int]]
    retention: list[tuple[str, str]]
    allowed_uses: list[str]
    prohibited_uses: list[str]
    last_audit: str | None
    installed_sites: list[dict[str, Any]]


def gather(config: Config, store: Store, db: AccessDB, now: float | None = None) -> Transparency:
    now = time.time() if now is None else now
    period = figures.Period(now - WINDOW_DAYS * DAY_S, now)
    installed = [s for s in config.site_list if s.status == "installed"]
    return Transparency(
        agency=config.agency,
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now)),
        period=period.label,
        period_days=WINDOW_DAYS,
        cameras_by_status=figures.cameras_by_status(config),
        sites_by_status=figures.sites_by_status(config),
        totals=results(store, period.start, period.end),
        reads_by_site={
            k: v.reads for k, v in by_site(store, config.sites, period.start, period.end).items()
        },
        searches_by_purpose=figures.searches_by_purpose(db, period),
        shares_by_agency=figures.shares_by_agency(db, period),
        retention=figures.retention(config, db),
        allowed_uses=list(config.policy.allowed_uses),
        prohibited_uses=list(config.policy.prohibited_uses),
        last_audit=figures.last_audit(db),
        installed_sites=[
            {"id": s.id, "name": s.name, "purpose": s.purpose, "approved_on": s.approved_on}
            for s in installed
        ],
    )


MapDrawer = Callable[[Config, Path], None]


def draw_installed_map(config: Config, out: Path, draw: MapDrawer | None) -> str | None:
    """The installed sites on the jurisdiction as SVG, drawn by the site plan's own map
    (`alpr sites map`); returns why there is no map, or None."""
    installed = [s for s in config.site_list if s.status == "installed"]
    if draw is None:
        return "no map drawing is available here"
    if not installed:
        return "no site is installed"
    try:
        draw(dataclasses.replace(config, site_list=installed), out)
    except ImportError:
        return "the map needs matplotlib (pip install fixed-alpr[plot])"
    except (OSError, ValueError) as exc:
        return f"the map could not be drawn: {exc}"
    return None


def write_site(
    config: Config, store: Store, db: AccessDB, out: Path, draw: MapDrawer | None = None
) -> Transparency:
    """Write index.html, map.svg (when it can be drawn) and figures.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    figs = gather(config, store, db)
    no_map = draw_installed_map(config, out / "map.svg", draw)
    if no_map:
        log.warning("transparency report without a map: %s", no_map)
        (out / "map.svg").unlink(missing_ok=True)
    html = environment().get_template("transparency.html").render(f=figs, no_map=no_map)
    (out / "index.html").write_text(html)
    (out / "figures.json").write_text(json.dumps(dataclasses.asdict(figs), indent=2) + "\n")
    return figs
