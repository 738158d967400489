"""Small plane geometry for site plans: GeoJSON polygons, view cones, distances, overlaps.

Sites of one agency lie within a few tens of kilometres, so a local equirectangular projection
around the jurisdiction (metres east and north of a reference point) is accurate enough.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Point = tuple[float, float]
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0


class GeoError(ValueError):
    """A boundary file that is not a usable GeoJSON polygon."""


@dataclass(frozen=True)
class Projection:
    lat0: float
    lon0: float

    def to_xy(self, lat: float, lon: float) -> Point:
        x = (lon - self.lon0) * M_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat0))
        return x, (lat - self.lat0) * M_PER_DEG_LAT


def as_object(path: Path, value: object, what: str) -> dict[str, Any]:
    """GeoJSON objects are JSON objects; a bare array (of coordinates, say) is named as such."""
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"a {type(value).__name__}"
        raise GeoError(
            f"{path}: {what} is {kind}, not a GeoJSON object: expected"
            ' {"type": "Polygon", "coordinates": [[[lon, lat], ...]]} or a Feature(Collection)'
        )
    return value


def load_polygon(path: Path) -> list[Point]:
    """The exterior ring, as (lon, lat) points, of the first polygon in a GeoJSON file."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise GeoError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise GeoError(f"{path}: not JSON: {exc}") from None
    geometry = as_object(path, doc, "the file")
    if doc.get("type") == "FeatureCollection":
        if not doc.get("features") or not isinstance(doc["features"], list):
            raise GeoError(f"{path}: the FeatureCollection has no features")
        geometry = as_object(path, doc["features"][0], "its first feature")
    if geometry.get("type") == "Feature":
        geometry = as_object(path, geometry.get("geometry") or {}, "the feature's geometry")
    kind = geometry.get("type")
    coords: Any = geometry.get("coordinates")
    if kind == "MultiPolygon" and coords:
        coords = coords[0]
    elif kind != "Polygon":
        raise GeoError(f"{path}: expected a Polygon or MultiPolygon, got {kind!r}")
    try:
        ring = [(float(p[0]), float(p[1])) for p in coords[0]]
    except (TypeError, IndexError, ValueError):
        raise GeoError(f"{path}: malformed polygon coordinates") from None
    if len(ring) < 4:
        raise GeoError(f"{path}: a polygon needs at least 3 distinct points")
    return ring


def contains(poly: list[Point], p: Point) -> bool:
    """Even-odd ray casting."""
    x, y = p
    inside = False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def segment_distance(p: Point, a: Point, b: Point) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def boundary_distance(poly: list[Point], p: Point) -> float:
    return min(segment_distance(p, a, b) for a, b in zip(poly, poly[1:] + poly[:1], strict=True))


def view_cone(
    origin: Point, heading_deg: float, range_m: float, angle_deg: float, steps: int = 8
) -> list[Point]:
    """The camera's field of view as a convex polygon: apex at the camera, arc at its range."""
    x, y = origin
    pts = [origin]
    for i in range(steps + 1):
        bearing = math.radians(heading_deg - angle_deg / 2 + angle_deg * i / steps)
        pts.append((x + range_m * math.sin(bearing), y + range_m * math.cos(bearing)))
    return pts


def convex_overlap(a: list[Point], b: list[Point]) -> bool:
    """Separating-axis test for two convex polygons (touching counts as no overlap)."""
    for poly in (a, b):
        for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
            nx, ny = y2 - y1, x1 - x2
            if nx == 0 and ny == 0:
                continue
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) + 1e-9 or max(pb) <= min(pa) + 1e-9:
                return False
    return True
