"""`alpr power estimate`: a camera's energy budget from its site config and a current table.

The table (README, "Camera firmware": sources there) is the ESP32-CAM's: 4.4 mA in deep sleep on a
stock AI-Thinker board, about 190 mA running with the camera, Wi-Fi RX about 100 mA and TX 160-260
mA (ESP32 datasheet; 240 mA taken). A wake is modelled as phases (boot, burst, association, upload,
answer); the firmware reports its real awake_ms per event so the model can be checked in the field.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.errors import UserError

CURRENT_MA = {"deep_sleep": 4.4, "running": 190.0, "wifi_rx": 100.0, "wifi_tx": 240.0}
# JPEG bytes per frame at quality about 12 (OV2640), by frame size: what the upload has to carry
FRAME_BYTES = {
    "QVGA": 8_000,
    "CIF": 12_000,
    "HVGA": 16_000,
    "VGA": 25_000,
    "SVGA": 38_000,
    "XGA": 55_000,
    "HD": 65_000,
    "SXGA": 90_000,
    "UXGA": 130_000,
}
BOOT_S = 0.45  # wake from deep sleep to the app running (ROM boot, MicroPython init, imports)
FRAME_S = 0.15  # one frame of the burst
ASSOC_S = 1.5  # Wi-Fi association and DHCP to a known AP
UPLINK_BPS = 1_000_000  # effective TCP payload rate at the edge of a site's Wi-Fi
ANSWER_S = 0.25  # gateway's fsync and answer


@dataclass(frozen=True)
class Estimate:
    event_j: float
    heartbeat_j: float
    sleep_j_day: float
    day_wh: float
    autonomy_days: float
    panel_w_needed: float
    panel_wh_day: float
    awake_ms_event: int


def wake_j(volts: float, run_s: float, rx_s: float, tx_s: float) -> float:
    c = CURRENT_MA
    return volts * (c["running"] * run_s + c["wifi_rx"] * rx_s + c["wifi_tx"] * tx_s) / 1000


def estimate(
    conf: dict[str, Any],
    events_per_day: float,
    cells: int = 2,
    cell_mah: float = 3000,
    cell_v: float = 3.7,
    usable: float = 0.8,
    panel_w: float = 5.0,
    sun_hours: float = 3.0,
    derate: float = 0.6,
) -> Estimate:
    """Energy per event and per day, autonomy without sun, and the panel that covers a day."""
    burst = int(conf.get("burst", 3))
    body = (
        burst
        * FRAME_BYTES[conf.get("frame_size", "VGA")]
        * min(2.0, (12 / max(4, int(conf.get("jpeg_quality", 12)))) ** 0.5)
    )
    tx_s = body * 8 / UPLINK_BPS
    run_s = BOOT_S + burst * FRAME_S
    event_j = wake_j(cell_v, run_s, ASSOC_S + ANSWER_S, tx_s)
    heartbeat_j = wake_j(cell_v, BOOT_S, ASSOC_S + ANSWER_S, 0.01)
    beats = 86400 / int(conf.get("heartbeat_s", 3600))
    awake_s_day = events_per_day * (run_s + ASSOC_S + ANSWER_S + tx_s) + beats * (
        BOOT_S + ASSOC_S + ANSWER_S
    )
    sleep_j = cell_v * CURRENT_MA["deep_sleep"] / 1000 * max(0.0, 86400 - awake_s_day)
    day_wh = (events_per_day * event_j + beats * heartbeat_j + sleep_j) / 3600
    battery_wh = cells * cell_mah / 1000 * cell_v * usable
    return Estimate(
        event_j=event_j,
        heartbeat_j=heartbeat_j,
        sleep_j_day=sleep_j,
        day_wh=day_wh,
        autonomy_days=battery_wh / day_wh,
        panel_w_needed=day_wh / (sun_hours * derate),
        panel_wh_day=panel_w * sun_hours * derate,
        awake_ms_event=round((run_s + ASSOC_S + ANSWER_S + tx_s) * 1000),
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("power", help="camera power budget")
    psub = p.add_subparsers(dest="power_command", required=True)
    e = psub.add_parser("estimate", help="energy per event and day, autonomy, panel size")
    e.add_argument("--config", required=True, type=Path, help="the camera's site config (JSON)")
    e.add_argument("--events-per-day", type=float, default=500)
    e.add_argument("--cells", type=int, default=2, help="18650 cells in parallel")
    e.add_argument("--cell-mah", type=float, default=3000)
    e.add_argument("--panel-w", type=float, default=5.0)
    e.add_argument("--sun-hours", type=float, default=3.0, help="peak sun hours, worst month")
    e.set_defaults(func=run)


def load_site_config(path: Path) -> dict[str, Any]:
    """The camera's site config (JSON from `alpr provision`); the gateway's TOML is named as the
    wrong file rather than reported as a JSON syntax error."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        conf = json.loads(text)
    except ValueError as exc:
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            raise UserError(f"{path}: not a site config (not valid JSON: {exc})") from None
        raise UserError(
            f"{path} is a TOML file (the gateway config?); power estimate needs the camera's site"
            " config, the JSON file `alpr provision` writes (CAMERA.site.json)"
        ) from None
    if not isinstance(conf, dict):
        raise UserError(f"{path}: a site config is a JSON object, not {type(conf).__name__}")
    return conf


def run(args: argparse.Namespace) -> int:
    conf = load_site_config(args.config)
    if conf.get("frame_size", "VGA") not in FRAME_BYTES:
        raise SystemExit(f"alpr power estimate: unknown frame_size {conf.get('frame_size')!r}")
    est = estimate(
        conf,
        args.events_per_day,
        cells=args.cells,
        cell_mah=args.cell_mah,
        panel_w=args.panel_w,
        sun_hours=args.sun_hours,
    )
    print(
        f"per event: {est.event_j:.2f} J ({est.event_j / 3.6:.3f} mWh), "
        f"about {est.awake_ms_event} ms awake"
    )
    print(
        f"per heartbeat: {est.heartbeat_j:.2f} J; deep sleep: {est.sleep_j_day / 3600:.2f} Wh/day"
    )
    print(f"per day at {args.events_per_day:g} events: {est.day_wh:.2f} Wh")
    print(
        f"autonomy with no sun: {est.autonomy_days:.1f} days "
        f"({args.cells} x {args.cell_mah:g} mAh, 80% usable)"
    )
    print(
        f"panel needed: {est.panel_w_needed:.1f} W at {args.sun_hours:g} sun-hours "
        f"(a {args.panel_w:g} W panel gives {est.panel_wh_day:.1f} Wh/day: "
        f"{'enough' if est.panel_wh_day >= est.day_wh else 'NOT enough'})"
    )
    return 0
