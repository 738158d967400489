"""Power cuts in the middle of a flash-queue write, at random byte offsets, on the emulated board.

The gateway is away, so captures pile up on the board's flash. Each round captures one event
normally, then arms a power cut that fires after a random number of bytes of the next event's queue
file, triggers, and powers the board back on (RTC memory lost, flash kept). After the last cut the
gateway comes back and the board is powered on once more: it must boot and send the whole queue.

Reached flash: an event whose queue file got its final name. Lost: one of those that never reached
the gateway intact (or a capture that did not make it to the flash although no cut touched it);
duplicated: a capture stored under two numbers.
"""

from __future__ import annotations

import random
import re
import time

from hwtest.rig import wait_for
from tools.faults.board import bench, count
from tools.faults.row import Env, Row, Size

SIZES = {"short": 2, "full": 20}  # power cuts


def run(size: Size, env: Env) -> Row:
    cuts = SIZES[size]
    rng = random.Random(17)
    with bench() as b:
        board, gw = b.board, b.gateway
        smallest = min(p.stat().st_size for p in (b.folder / "images").glob("*.jpg"))
        gw.stop()
        on_flash: set[int] = set()
        missing = 0  # captures that no cut touched and that are not on the flash
        offsets: list[int] = []
        for _ in range(cuts):
            before = set(board.queued())
            if not board.trigger():
                raise RuntimeError(f"the board did not wake:\n{board.console()[-2000:]}")
            b.sleep_ms()
            now = set(board.queued())
            missing += not (now - before)
            on_flash |= now
            after = rng.randrange(0, smallest)
            offsets.append(after)
            board.arm_power_cut("/q/", after=after)
            cut_before = board.state()["powerCuts"]
            if not board.trigger():
                raise RuntimeError(f"the board did not wake:\n{board.console()[-2000:]}")
            state = board.wait_asleep(timeout=60)
            if state["powerCuts"] != cut_before + 1:
                raise RuntimeError(f"the power cut did not fire: {state}")
            on_flash |= set(board.queued())  # a torn write left under its final name counts
            board.power_cycle()
            b.sleep_ms()
        gw.start()
        start = time.monotonic()
        board.power_cycle()  # power back with the gateway up: boot, send the queue
        stored = wait_for(lambda: on_flash <= {e["sequence"] for e in b.events()}, timeout=120)
        recovery = time.monotonic() - start
        b.sleep_ms()
        stored = b.events()
        left = board.queued()
        refused = len(re.findall(r"rejected POST /v1/events", b.gateway_log()))
    lost, duplicated = count(stored, on_flash)
    lost += missing
    return Row(
        name="power cut mid-write of the flash queue, random byte, emulated board",
        injected=cuts,
        acknowledged=len(on_flash),
        lost=lost,
        duplicated=duplicated,
        recovery_s=round(recovery, 1),
        notes=(
            f"{cuts} cuts at bytes {min(offsets)}..{max(offsets)} of an event's queue file, each"
            f" followed by a power-on; {len(on_flash)} events had reached the flash,"
            f" {len(on_flash & {e['sequence'] for e in stored})} of them stored after the board"
            f" was powered on with the gateway back ({refused} refused, {len(left)} left queued);"
            " recovery: power-on to the last event stored"
        ),
        detail={
            "cut_after_bytes": offsets,
            "on_flash": sorted(on_flash),
            "stored": [e["sequence"] for e in stored],
            "not_on_flash": missing,
            "refused": refused,
            "left_queued": left,
            "failures": len(left),
        },
    )
