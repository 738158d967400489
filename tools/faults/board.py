"""The emulated camera board for the fault matrix: real MicroPython (WebAssembly) running the
firmware as deployed by `alpr deploy`, a real gateway process on loopback, and the bench's hands
(trigger, timer, Wi-Fi, power, the RTC). The same bench as the hardware-in-the-loop tests (hwtest/).

What the board holds is read from the emulator's flash (an event is on the queue once its file has
its final name), what arrived from the gateway's store.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # hwtest/ is beside the packages, not one of them
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from hwtest.board import EmulatedBoard
    from hwtest.rig import Gateway


class BoardUnavailable(RuntimeError):
    """Node.js or MicroPython's WebAssembly port is missing; the message says what to run."""


@dataclass
class Bench:
    gateway: Gateway
    board: EmulatedBoard
    site: dict[str, Any]  # the deployed site config

    def sleep_ms(self) -> int:
        return int(self.board.wait_asleep(timeout=60)["sleepMs"])


@contextmanager
def bench(tmp: Path, **site: Any) -> Iterator[Bench]:
    """A gateway with camera cam-hw provisioned and the firmware deployed on an emulated board,
    asleep after its first boot; site overrides go into the deployed site config."""
    from hwtest.board import EmulatedBoard, node_ready
    from hwtest.rig import Gateway, deploy_to, free_port, site_config, write_gateway_config
    from hwtest.rig import write_images

    why = node_ready()
    if why:
        raise BoardUnavailable(f"the emulated board cannot start: {why}")
    port = free_port()
    gw = Gateway(write_gateway_config(tmp, port), port)
    gw.start()
    board: EmulatedBoard | None = None
    try:
        board = EmulatedBoard(write_images(tmp / "images"), tmp / "console.log")
        board.set_supply(3.95, 5.1)
        path = site_config(gw, tmp, **site)
        deploy_to(board, path)
        yield Bench(gw, board, json.loads(path.read_text()))
    finally:
        if board is not None:
            board.close()
        gw.stop()


def count(stored: list[dict[str, Any]], on_flash: set[int]) -> tuple[int, int]:
    """(lost, duplicated): each event that reached the flash queue stored once; no capture (same
    body) stored under two numbers."""
    seqs = [e["sequence"] for e in stored]
    lost = len(on_flash - set(seqs))
    bodies = [e["body_sha256"] for e in stored]
    duplicated = (len(seqs) - len(set(seqs))) + (len(bodies) - len(set(bodies)))
    return lost, duplicated
