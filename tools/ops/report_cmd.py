"""`alpr report transparency|board`: figures for the public and the advisory board."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from gateway.access import audit
from gateway.reports import board, transparency
from gateway.store import Store
from tools.common import add_config_arg
from tools.field.sites import draw_map
from tools.ops import auth


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="the public transparency site and the board's annual report")
    s = p.add_subparsers(dest="report_command", required=True)
    t = s.add_parser("transparency", help="a static offline site: cameras, figures, policy, map")
    add_config_arg(t)
    t.add_argument("--out", type=Path, required=True, help="folder for index.html and its files")
    t.set_defaults(func=run_transparency, cmd="report transparency")
    b = s.add_parser("board", help="the annual report to the advisory board (HTML)")
    add_config_arg(b)
    b.add_argument("--year", type=int, default=dt.datetime.now(dt.UTC).year - 1)
    b.add_argument("--out", type=Path, help="default: board-YEAR.html")
    b.set_defaults(func=run_board, cmd="report board")


def run_transparency(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "reports.publish")
    figs = transparency.write_site(
        ctx.config, Store(ctx.config.data_dir), ctx.db, args.out, draw_map
    )
    audit.append(
        ctx.db, ctx.user.name, "report transparency", kind="view",
        what={"out": str(args.out)}, source=ctx.source,
    )  # fmt: skip
    print(
        f"transparency site written to {args.out / 'index.html'}: {figs.totals.reads} reads and"
        f" {figs.totals.hits} hits in the last {figs.period_days} days"
    )
    return 0


def run_board(args: argparse.Namespace) -> int:
    if not 2000 <= args.year <= 9998:
        print(f"alpr report board: --year {args.year} is out of range", file=sys.stderr)
        return 2
    ctx = auth.authorize(args, "reports.publish")
    out = args.out or Path(f"board-{args.year}.html")
    b = board.gather(ctx.config, Store(ctx.config.data_dir), ctx.db, args.year)
    out.write_text(board.render(b))
    audit.append(
        ctx.db, ctx.user.name, "report board", kind="view",
        what={"year": args.year, "out": str(out)}, source=ctx.source,
    )  # fmt: skip
    state = "verifies" if b.integrity.ok else f"DOES NOT VERIFY: {b.integrity.problem}"
    print(f"board report {args.year} written to {out}; the audit log {state}")
    return 0
