"""A tiny horizontal bar chart as inline SVG: no script, no CDN, prints and reads offline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

LABEL_W = 190  # pixels kept for the labels on the left
VALUE_W = 60  # and for the values on the right


def bar_chart(
    items: Sequence[tuple[str, int]], title: str, width: int = 560, bar_h: int = 20
) -> Markup:
    """One bar per (label, value); each bar carries its value as text, so the chart reads alone."""
    gap = 6
    height = max(len(items), 1) * (bar_h + gap) + gap
    most = max((v for _, v in items), default=0) or 1
    span = width - LABEL_W - VALUE_W
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not items:
        parts.append(f'<text x="0" y="{bar_h}" font-size="12">none</text>')
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = round(span * value / most) if value else 0
        parts.append(
            f'<g data-label="{escape(label)}" data-value="{value}">'
            f'<text x="{LABEL_W - 6}" y="{y + bar_h * 0.72:.1f}" text-anchor="end"'
            f' font-size="12">{escape(label)}</text>'
            f'<rect x="{LABEL_W}" y="{y}" width="{w}" height="{bar_h}" fill="#3a6ea5"/>'
            f'<text x="{LABEL_W + w + 4}" y="{y + bar_h * 0.72:.1f}" font-size="12">{value}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
