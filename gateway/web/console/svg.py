"""Small SVG drawings made on the server (no scripts, no styles: presentation attributes only, so
the Content-Security-Policy stays strict): sparklines, the site map and a timeline."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

from gateway.config import Config

STATUS_COLOURS = {"installed": "#2b7a3d", "planned": "#c78a00", "retired": "#888888"}


def sparkline(
    points: Sequence[tuple[float, float]],
    start: float,
    end: float,
    width: int = 160,
    height: int = 32,
    colour: str = "#1f5fa8",
) -> Markup:
    """(time, value) points over [start, end] as a polyline; the lowest and highest value labelled."""
    if not points:
        return Markup(
            f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
            f' role="img" aria-label="no data"><text x="4" y="{height - 10}" font-size="11"'
            ' fill="#888">no heartbeats</text></svg>'
        )
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 3

    def xy(t: float, v: float) -> str:
        x = pad + (width - 2 * pad) * (t - start) / max(end - start, 1.0)
        y = height - pad - (height - 2 * pad) * (v - low) / span
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(t, v) for t, v in points)
    label = f"{low:.2f} to {high:.2f}"
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{label}"><polyline points="{line}" fill="none"'
        f' stroke="{colour}" stroke-width="1.5"/></svg>'
    )


def site_map(
    config: Config, counts: Mapping[str, int], width: int = 360, height: int = 240
) -> Markup:
    """The sites on an equirectangular projection (fine at a town's scale), with view directions,
    each labelled with how many of the results were read there."""
    sites = config.site_list
    if not sites:
        return Markup("")
    lat0 = sum(s.lat for s in sites) / len(sites)
    xs = [s.lon * math.cos(math.radians(lat0)) for s in sites]
    ys = [s.lat for s in sites]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-4)
    pad = 40

    def place(x: float, y: float) -> tuple[float, float]:
        px = pad + (width - 2 * pad) * ((x - min(xs)) / span if len(sites) > 1 else 0.5)
        py = height - pad - (height - 2 * pad) * ((y - min(ys)) / span if len(sites) > 1 else 0.5)
        return px, py

    parts = [
        f'<svg class="map" viewBox="0 0 {width} {height}" role="img" aria-label="site map">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f6f4ec" stroke="#ccc"/>'
    ]
    for site, x, y in zip(sites, xs, ys, strict=True):
        px, py = place(x, y)
        colour = STATUS_COLOURS.get(site.status, "#444")
        headings = {c.heading for c in config.cameras.values() if c.site == site.id}
        for heading in sorted(headings):
            dx, dy = math.sin(math.radians(heading)), -math.cos(math.radians(heading))
            parts.append(
                f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{px + 18 * dx:.1f}" y2="{py + 18 * dy:.1f}"'
                f' stroke="{colour}" stroke-width="3"/>'
            )
        n = counts.get(site.id, 0)
        radius = 6 + min(10, 2 * math.sqrt(n))
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{radius:.1f}" fill="{colour}"'
            ' fill-opacity="0.6"/>'
            f'<text x="{px + radius + 3:.1f}" y="{py + 4:.1f}" font-size="11">'
            f"{escape(site.id)}: {n}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def timeline(times: Sequence[float], width: int = 360, height: int = 44) -> Markup:
    """One tick per read along the span of the results, the first and last times labelled."""
    if not times:
        return Markup("")
    start, end = min(times), max(times)
    span = max(end - start, 1.0)
    pad = 8
    ticks = "".join(
        f'<line x1="{pad + (width - 2 * pad) * (t - start) / span:.1f}" y1="6"'
        f' x2="{pad + (width - 2 * pad) * (t - start) / span:.1f}" y2="24" stroke="#1f5fa8"'
        ' stroke-width="2"/>'
        for t in times
    )

    def stamp(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) + "Z"

    return Markup(
        f'<svg class="timeline" viewBox="0 0 {width} {height}" role="img" aria-label="timeline">'
        f'<line x1="{pad}" y1="24" x2="{width - pad}" y2="24" stroke="#999"/>{ticks}'
        f'<text x="{pad}" y="{height - 4}" font-size="10">{stamp(start)}</text>'
        f'<text x="{width - pad}" y="{height - 4}" font-size="10" text-anchor="end">'
        f"{stamp(end)}</text></svg>"
    )
