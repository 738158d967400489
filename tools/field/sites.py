"""`alpr sites check|map`: the chief's site plan, validated and drawn (offline, no tile server)."""

from __future__ import annotations

import argparse
import html
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import Config, ConfigError, Neighbour, Site, load
from tools.field import geo

STATUS_COLOURS = {"planned": "#1f77b4", "installed": "#2ca02c", "retired": "#7f7f7f"}


@dataclass
class PlanReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coordination: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlacedSite:
    site: Site
    xy: geo.Point
    heading: float | None
    cone: list[geo.Point] | None


def site_heading(config: Config, site: Site) -> float | None:
    if site.heading is not None:
        return site.heading
    return next((c.heading for c in config.cameras.values() if c.site == site.id), None)


def place(config: Config, proj: geo.Projection) -> list[PlacedSite]:
    placed = []
    for s in config.site_list:
        xy = proj.to_xy(s.lat, s.lon)
        heading = site_heading(config, s)
        cone = (
            None
            if heading is None
            else geo.view_cone(xy, heading, s.view_range_m, s.view_angle_deg)
        )
        placed.append(PlacedSite(s, xy, heading, cone))
    return placed


def projection(config: Config, boundary: list[geo.Point] | None) -> geo.Projection:
    if boundary:
        ring = boundary[:-1] if boundary[0] == boundary[-1] else boundary
        return geo.Projection(
            sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring)
        )
    sites = config.site_list or [Site(id="-", lat=0.0, lon=0.0)]
    return geo.Projection(sites[0].lat, sites[0].lon)


def check_plan(config: Config) -> PlanReport:
    """Every rule of the plan; errors make `alpr sites check` fail, warnings do not."""
    report = PlanReport()
    boundary = None
    if config.boundary is None:
        report.warnings.append(
            "agency.boundary: no jurisdiction boundary configured; sites cannot be checked against it"
        )
    else:
        try:
            boundary = geo.load_polygon(config.boundary)
        except geo.GeoError as exc:
            report.errors.append(f"agency.boundary: {exc}")
    proj = projection(config, boundary)
    ring = [proj.to_xy(lat, lon) for lon, lat in boundary] if boundary else None
    neighbours: list[tuple[Neighbour, list[geo.Point] | None]] = []
    for n in config.neighbours:
        try:
            poly = (
                [proj.to_xy(lat, lon) for lon, lat in geo.load_polygon(n.boundary)]
                if n.boundary
                else None
            )
        except geo.GeoError as exc:
            report.errors.append(f"agency.neighbours: {n.name}: {exc}")
            poly = None
        neighbours.append((n, poly))

    seen: dict[str, int] = {}
    for s in config.site_list:
        seen[s.id] = seen.get(s.id, 0) + 1
    for site_id, count in seen.items():
        if count > 1:
            report.errors.append(f"site {site_id}: duplicate id ({count} sites share it)")

    placed = place(config, proj)
    for p in placed:
        s = p.site
        if s.status == "installed" and not (s.approved_by and s.approved_on):
            report.errors.append(
                f"site {s.id}: installed without an approval (approved_by and approved_on)"
            )
        if not s.purpose:
            report.warnings.append(f"site {s.id}: no purpose or justification recorded")
        if p.heading is None:
            report.warnings.append(
                f"site {s.id}: no heading (neither the site nor a camera has one)"
            )
        if ring is None:
            continue
        if not geo.contains(ring, p.xy):
            report.errors.append(f"site {s.id}: outside the jurisdiction boundary")
            continue
        distance = geo.boundary_distance(ring, p.xy)
        if distance <= config.coordination_distance_m:
            report.coordination.append(
                f"site {s.id}: {distance:.0f} m from the boundary; coordinate with "
                + coordinate_with(neighbours, p.xy)
            )

    active = [p for p in placed if p.cone is not None and p.site.status != "retired"]
    for i, a in enumerate(active):
        for b in active[i + 1 :]:
            if a.site.id != b.site.id and a.cone and b.cone and geo.convex_overlap(a.cone, b.cone):
                report.errors.append(
                    f"site {b.site.id}: view cone overlaps site {a.site.id} (duplicate coverage)"
                )
    return report


def coordinate_with(
    neighbours: list[tuple[Neighbour, list[geo.Point] | None]], xy: geo.Point
) -> str:
    """The neighbour whose boundary is nearest; all of them when none has a boundary on file."""
    with_poly = [(geo.boundary_distance(poly, xy), n) for n, poly in neighbours if poly]
    if with_poly:
        n = min(with_poly, key=lambda t: t[0])[1]
        return f"{n.name} ({n.contact})"
    if neighbours:
        return "; ".join(f"{n.name} ({n.contact})" for n, _ in neighbours)
    return "the neighbouring agency (none listed in agency.neighbours)"


def site_table(config: Config) -> str:
    rows = [
        f"{'site':<12} {'status':<10} {'lat':>9} {'lon':>10} {'heading':>7} {'lanes':<12} approval"
    ]
    for s in config.site_list:
        heading = site_heading(config, s)
        approval = f"{s.approved_by} on {s.approved_on}" if s.approved_by else "NOT APPROVED"
        rows.append(
            f"{s.id:<12} {s.status:<10} {s.lat:9.5f} {s.lon:10.5f} "
            f"{'-' if heading is None else f'{heading:.0f}':>7} {', '.join(s.lanes) or '-':<12} {approval}"
        )
    return "\n".join(rows)


def draw_map(config: Config, out: Path) -> None:
    """Boundary, neighbours, sites and view cones, labelled with status and approval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    boundary = geo.load_polygon(config.boundary) if config.boundary else None
    proj = projection(config, boundary)
    fig, ax = plt.subplots(figsize=(9, 9))
    if boundary:
        ring = [proj.to_xy(lat, lon) for lon, lat in boundary]
        ax.add_patch(
            Polygon(
                ring,
                closed=True,
                facecolor="#f3efe0",
                edgecolor="#444",
                lw=2,
                label=f"{config.agency} jurisdiction",
            )
        )
    for n in config.neighbours:
        if n.boundary:
            ring = [proj.to_xy(lat, lon) for lon, lat in geo.load_polygon(n.boundary)]
            ax.add_patch(
                Polygon(ring, closed=True, facecolor="none", edgecolor="#999", ls="--", lw=1)
            )
            cx, cy = sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)
            ax.text(cx, cy, n.name, color="#777", ha="center", fontsize=9, style="italic")
    placed = place(config, proj)
    xs = [p.xy[0] for p in placed] + ([x for x, _ in ring] if boundary else [])
    ys = [p.xy[1] for p in placed] + ([y for _, y in ring] if boundary else [])
    extent = max(max(xs) - min(xs), max(ys) - min(ys), 1.0) if xs else 1.0
    enlarged = False
    for p in placed:
        colour = STATUS_COLOURS[p.site.status]
        if p.heading is not None:
            shown = max(p.site.view_range_m, extent / 15)  # a 35 m cone is invisible on a city map
            enlarged |= shown > p.site.view_range_m
            cone = geo.view_cone(p.xy, p.heading, shown, p.site.view_angle_deg)
            ax.add_patch(Polygon(cone, closed=True, facecolor=colour, alpha=0.35, edgecolor=colour))
        ax.plot(*p.xy, "o", color=colour, ms=7)
        approval = (
            f"approved {p.site.approved_by}, {p.site.approved_on}"
            if p.site.approved_by
            else "NOT APPROVED"
        )
        ax.annotate(
            f"{p.site.id} ({p.site.status})\n{approval}",
            p.xy,
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=8,
        )
    for status, colour in STATUS_COLOURS.items():
        ax.plot([], [], "o", color=colour, label=status)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("metres east")
    ax.set_ylabel("metres north")
    ax.set_title(
        f"{config.agency}: ALPR site plan"
        + ("\n(view cones enlarged for legibility)" if enlarged else "")
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    suffix = out.suffix.lower()
    if suffix in (".png", ".svg"):
        fig.savefig(out, dpi=110, bbox_inches="tight")
    elif suffix == ".html":
        svg = io.StringIO()
        fig.savefig(svg, format="svg", bbox_inches="tight")
        out.write_text(
            f"<!doctype html><meta charset='utf-8'><title>{html.escape(config.agency)} site plan</title>"
            f"<h1>{html.escape(config.agency)}: ALPR site plan</h1>{svg.getvalue()}"
            f"<pre>{html.escape(site_table(config))}</pre>"
        )
    else:
        plt.close(fig)
        raise SystemExit(f"alpr sites map: --out must end in .png, .svg or .html, got {out.name}")
    plt.close(fig)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sites", help="the site plan: check it, or draw it")
    ssub = p.add_subparsers(dest="sites_command", required=True)
    c = ssub.add_parser("check", help="validate the site plan (exit 1 on errors)")
    c.add_argument("--config", type=Path, required=True)
    c.set_defaults(func=run_check)
    m = ssub.add_parser("map", help="draw boundary, sites and view cones (png, svg or html)")
    m.add_argument("--config", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.set_defaults(func=run_map)


def load_plan(path: Path) -> Config:
    try:
        return load(path, strict=False)
    except ConfigError as exc:
        raise SystemExit(f"alpr sites: config error: {exc}") from None


def run_check(args: argparse.Namespace) -> int:
    report = check_plan(load_plan(args.config))
    for e in report.errors:
        print(f"error: {e}")
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for c in report.coordination:
        print(f"coordinate: {c}")
    print(
        f"{len(report.errors)} errors, {len(report.warnings)} warnings, {len(report.coordination)} sites "
        "near the boundary"
    )
    return 1 if report.errors else 0


def run_map(args: argparse.Namespace) -> int:
    config = load_plan(args.config)
    try:
        draw_map(config, args.out)
    except geo.GeoError as exc:
        raise SystemExit(f"alpr sites map: {exc}") from None
    print(site_table(config))
    print(f"map written to {args.out}")
    return 0
