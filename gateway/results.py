"""What the cameras produced over a period: reads, hits, and hits by outcome (their disposition).

Hits keep their own copy of the camera, site and time, so their counts hold after the reads are
purged; read counts cover the reads still in the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.store import Store

OPEN = "open"  # a hit without a disposition yet
OUTCOMES = ("confirmed", "misread", "no-longer-wanted", "not-located", "other", OPEN)


@dataclass
class Results:
    reads: int = 0
    hits: int = 0
    by_outcome: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))


def _where(
    since: float | None, until: float | None, sites: Iterable[str], cameras: Iterable[str]
) -> tuple[str, list[object]]:
    sql, args = "", list[object]()
    if since is not None:
        sql += " AND captured >= ?"
        args.append(since)
    if until is not None:
        sql += " AND captured < ?"
        args.append(until)
    places = []
    sites, cameras = list(sites), list(cameras)
    if sites:
        places.append(f"site IN ({','.join('?' * len(sites))})")
        args.extend(sites)
    if cameras:
        places.append(f"camera IN ({','.join('?' * len(cameras))})")
        args.extend(cameras)
    if places:
        sql += " AND (" + " OR ".join(places) + ")"
    return sql, args


def results(
    store: Store,
    since: float | None = None,
    until: float | None = None,
    sites: Iterable[str] = (),
    cameras: Iterable[str] = (),
) -> Results:
    """Counts with since <= captured < until at any of the sites or cameras (all when none)."""
    where, args = _where(since, until, sites, cameras)
    db = store.connect()
    out = Results()
    out.reads = int(db.execute("SELECT count(*) FROM reads WHERE 1=1" + where, args).fetchone()[0])
    rows = db.execute(
        "SELECT coalesce(disposition, ?), count(*) FROM hits WHERE 1=1" + where + " GROUP BY 1",
        [OPEN, *args],
    )
    for outcome, count in rows:
        out.by_outcome[outcome] = out.by_outcome.get(outcome, 0) + int(count)
        out.hits += int(count)
    return out


def by_site(
    store: Store, site_ids: Iterable[str], since: float | None, until: float | None
) -> dict[str, Results]:
    return {s: results(store, since, until, sites=[s]) for s in site_ids}
