"""The emulated camera board for the fault matrix: real MicroPython (WebAssembly) running the
firmware as deployed by `alpr deploy`, a real gateway process on loopback, and the bench's hands
(trigger, timer, Wi-Fi, power, the RTC). The same bench as the hardware-in-the-loop tests (hwtest/).

What the board holds is read from the emulator's flash (an event is on the queue once its file has
its final name), what arrived from the gateway's store.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.faults.row import RowUnavailable

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # hwtest/ is beside the packages, not one of them
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from hwtest.board import EmulatedBoard
    from hwtest.rig import Gateway


# One site config for every board row, so that the rows of one run can share a deployed board:
# one frame per event, the shortest retry the firmware allows, room for the longest queue.
SITE: dict[str, Any] = {"burst": 1, "retry_s": 10, "queue_max": 120}


class BoardUnavailable(RowUnavailable):
    """Node.js or MicroPython's WebAssembly port is missing; the message says what to run."""


@dataclass
class Bench:
    gateway: Gateway
    board: EmulatedBoard
    site: dict[str, Any]  # the deployed site config
    folder: Path  # the gateway's config and data, the board's images and console log
    first: int = 0  # events numbered at most this were there before the row started
    log_from: int = 0  # where the gateway's log stood when the row started

    def sleep_ms(self) -> int:
        return int(self.board.wait_asleep(timeout=60)["sleepMs"])

    def events(self) -> list[dict[str, Any]]:
        """The stored events of this row."""
        return [e for e in self.gateway.events() if e["sequence"] > self.first]

    def reset(self) -> None:
        """Back to a board with an empty queue, a right clock and the Wi-Fi up, asleep, and a
        gateway running: the state a row starts from."""
        from hwtest.rig import wait_for

        if self.gateway.proc is None:
            self.gateway.start()
        self.board.set_wifi("up")
        self.board.set_clock_offset(0)
        self.board.wait_asleep(timeout=60)
        if self.board.queued():
            self.board.timer()
            self.board.wait_asleep(timeout=60)
        if self.board.queued():
            raise RuntimeError(f"the board kept {self.board.queued()} after a row")
        stored = wait_for(self.gateway.events, timeout=1) or []
        self.first = max([e["sequence"] for e in stored], default=0)
        self.log_from = len(self.gateway.log())

    def gateway_log(self) -> str:
        """What the gateway logged during this row."""
        return self.gateway.log()[self.log_from :]


@contextmanager
def fresh_bench(tmp: Path) -> Iterator[Bench]:
    """A gateway with camera cam-hw provisioned and the firmware deployed on an emulated board,
    asleep after its first boot."""
    from hwtest.board import EmulatedBoard, node_ready
    from hwtest.rig import (
        Gateway,
        deploy_to,
        free_port,
        site_config,
        write_gateway_config,
        write_images,
    )

    why = node_ready()
    if why:
        raise BoardUnavailable(f"the emulated board cannot start: {why}")
    port = free_port()
    gw = Gateway(write_gateway_config(tmp, port), port)
    board: EmulatedBoard | None = None
    try:
        path = site_config(gw, tmp, **SITE)  # provisioned before the gateway's first start
        gw.start()
        images = write_images(tmp / "images", shape=(120, 160))  # small: the emulator is slow
        board = EmulatedBoard(images, tmp / "console.log")
        board.set_supply(3.95, 5.1)
        deploy_to(board, path)
        yield Bench(gw, board, json.loads(path.read_text()), tmp)
    finally:
        if board is not None:
            board.close()
        gw.stop()


class _Session:
    def __init__(self) -> None:
        self.stack = ExitStack()
        self.bench: Bench | None = None


_session: _Session | None = None


@contextmanager
def shared() -> Iterator[None]:
    """Inside, the board rows share one bench (deploying is the slow part); it goes at the end."""
    global _session
    _session = _Session()
    try:
        with _session.stack:
            yield
    finally:
        _session = None


@contextmanager
def bench() -> Iterator[Bench]:
    """The bench for one row, in the state reset() leaves it: the session's, or a fresh one."""
    if _session is None:
        with (
            tempfile.TemporaryDirectory(prefix="alpr-faults-board-") as tmp,
            fresh_bench(Path(tmp)) as fresh,
        ):
            fresh.reset()
            yield fresh
        return
    if _session.bench is None:
        tmp = _session.stack.enter_context(tempfile.TemporaryDirectory(prefix="alpr-faults-board-"))
        _session.bench = _session.stack.enter_context(fresh_bench(Path(tmp)))
    _session.bench.reset()
    yield _session.bench


def count(stored: list[dict[str, Any]], on_flash: set[int]) -> tuple[int, int]:
    """(lost, duplicated): each event that reached the flash queue stored once; no capture (same
    body) stored under two numbers."""
    seqs = [e["sequence"] for e in stored]
    lost = len(on_flash - set(seqs))
    bodies = [e["body_sha256"] for e in stored]
    duplicated = (len(seqs) - len(set(seqs))) + (len(bodies) - len(set(bodies)))
    return lost, duplicated
