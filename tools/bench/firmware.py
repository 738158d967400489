"""`alpr bench firmware`: the emulated board's awake time per event and the deploy time.

Starts a real gateway and the emulated board (real MicroPython), provisions a camera, deploys, then
triggers N events and reads awake_ms as the firmware reported it (captures to POST) and the
board's whole wake (boot to deep sleep) as the emulator saw it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any


def bench(events: int) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    from hwtest.board import EmulatedBoard, node_ready
    from hwtest.conftest import Gateway, free_port, site_config, wait_for

    why = node_ready()
    if why:
        raise SystemExit(f"alpr bench firmware: the emulated board cannot start: {why}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        import cv2
        import numpy as np

        images = tmp / "images"
        images.mkdir()
        rng = np.random.default_rng(1)
        for i in range(3):
            img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
            _, buf = cv2.imencode(
                ".jpg", cv2.GaussianBlur(img, (9, 9), 0), [cv2.IMWRITE_JPEG_QUALITY, 80]
            )
            (images / f"{i}.jpg").write_bytes(buf.tobytes())
        port = free_port()
        config = tmp / "alpr.toml"
        config.write_text(
            f'[agency]\nname = "bench"\n\n[gateway]\nlisten = "127.0.0.1:{port}"\n'
            'data_dir = "data"\nreader_workers = 1\n\n'
            '[[sites]]\nid = "bench"\nname = "Bench"\nlat = 40.0\nlon = -88.0\n'
        )
        gw = Gateway(config, port)
        gw.start()
        board = EmulatedBoard(images, tmp / "console.log")
        try:
            board.set_supply(3.95, 5.1)
            from tools.field import deploy

            site = site_config(gw, tmp, burst=3)
            deploy_s = deploy.deploy(board.port, site)
            board.wait_asleep()
            walls = []
            for _ in range(events):
                assert board.trigger()
                walls.append(board.wait_asleep()["awakeMs"][-1])
            got = wait_for(lambda: len(gw.events()) >= events and gw.events(), timeout=60)
            awake = [e["awake_ms"] for e in got or []]
            if len(awake) < events:
                raise SystemExit(
                    f"alpr bench firmware: only {len(awake)} of {events} events arrived"
                )
        finally:
            board.close()
            gw.stop()
    return {
        "events": events,
        "awake_ms_median": statistics.median(awake),
        "wake_ms_median": statistics.median(walls),
        "deploy_s": deploy_s,
    }


def bench_firmware(args: argparse.Namespace) -> dict[str, Any]:
    """`alpr bench firmware`: five trigger events on the emulated board."""
    r = bench(5)
    return {
        "board": "emulated (MicroPython 1.27 WebAssembly under Node)",
        "events": r["events"],
        "awake_ms_per_event_median (captures to POST)": r["awake_ms_median"],
        "wake_ms_median (boot to deep sleep)": r["wake_ms_median"],
        "deploy_s": round(r["deploy_s"], 1),
    }
