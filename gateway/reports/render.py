"""The Jinja2 environment for the report templates shipped in this package."""

from __future__ import annotations

import time

import jinja2

from gateway.reports.charts import bar_chart


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.globals["bar_chart"] = bar_chart
    env.filters["utc"] = utc
    return env


def utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))
