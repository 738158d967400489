"""The annual report to the advisory board: what the hits came to, arrests and recoveries where
recorded, the year's audits and their findings, releases to other agencies, special details, and
whether the audit log is intact."""

from __future__ import annotations

import calendar
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from gateway import deployments
from gateway.access import audit
from gateway.access.db import AccessDB
from gateway.config import Config
from gateway.reports import figures
from gateway.reports.render import environment
from gateway.results import Results, by_site, results
from gateway.store import Store


@dataclass
class Board:
    agency: str
    year: int
    generated: str
    period: str
    totals: Results
    sites: dict[str, Results]
    site_status: dict[str, str]
    recorded: dict[str, int | str]
    audits: list[dict[str, object]]
    last_audit: str | None
    integrity: audit.Verification
    head: audit.Head | None
    searches_by_purpose: dict[str, int]
    shares_by_agency: dict[str, dict[str, int]]
    details: list[dict[str, Any]]


def year_period(year: int) -> figures.Period:
    start = calendar.timegm(dt.date(year, 1, 1).timetuple())
    return figures.Period(float(start), float(calendar.timegm(dt.date(year + 1, 1, 1).timetuple())))


def gather(config: Config, store: Store, db: AccessDB, year: int) -> Board:
    period = year_period(year)
    details = [
        d
        for d in deployments.report(db, store)
        if d["start"] < period.end and d["end"] > period.start
    ]
    return Board(
        agency=config.agency,
        year=year,
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        period=period.label,
        totals=results(store, period.start, period.end),
        sites=by_site(store, config.sites, period.start, period.end),
        site_status={s.id: s.status for s in config.site_list},
        recorded=figures.recorded_outcomes(store, period),
        audits=figures.audit_findings(db, period),
        last_audit=figures.last_audit(db),
        integrity=audit.verify(db),
        head=audit.head(db),
        searches_by_purpose=figures.searches_by_purpose(db, period),
        shares_by_agency=figures.shares_by_agency(db, period),
        details=details,
    )


def render(board: Board) -> str:
    return environment().get_template("board.html").render(b=board)
