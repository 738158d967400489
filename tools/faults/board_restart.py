"""The gateway and the camera restart together, with events queued on the board.

With the gateway down, the emulated board captures N events (they wait on its flash). Then, at the
same moment, the gateway process is started and the board is powered off and on (RTC memory lost,
so its sequence counter comes back from the flash). The board boots while the gateway is still
starting; it must keep every event and deliver each exactly once, on its own retry schedule.
"""

from __future__ import annotations

import re
import time

from hwtest.rig import wait_for
from tools.faults.board import bench, count
from tools.faults.row import Env, Row, Size

SIZES = {"short": 5, "full": 50}  # events queued before the restart


def run(size: Size, env: Env) -> Row:
    n = SIZES[size]
    with bench() as b:
        board, gw = b.board, b.gateway
        gw.stop()
        missing = 0
        for _ in range(n):
            before = set(board.queued())
            if not board.trigger():
                raise RuntimeError(f"the board did not wake:\n{board.console()[-2000:]}")
            b.sleep_ms()
            missing += not (set(board.queued()) - before)
        queued = set(board.queued())
        start = time.monotonic()
        gw.launch()  # both at once: the gateway process and the board's power-on
        board.power_cycle()
        gw.wait_listening()
        listening = time.monotonic() - start
        wait_for(lambda: queued <= {e["sequence"] for e in b.events()}, timeout=180)
        recovery = time.monotonic() - start
        b.sleep_ms()
        stored = b.events()
        left = board.queued()
        refused = len(re.findall(r"rejected POST /v1/events", b.gateway_log()))
        boots = board.state()["boots"]
    lost, duplicated = count(stored, queued)
    lost += missing
    return Row(
        name=f"gateway and camera restart together, {n} events queued on the board",
        injected=1,
        acknowledged=len(queued),
        lost=lost,
        duplicated=duplicated,
        recovery_s=round(recovery, 1),
        notes=(
            f"{len(queued)} events on the flash; gateway start and board power-on at once, the"
            f" gateway listening after {listening:.1f} s; {len(queued & {e['sequence'] for e in stored})}"
            f" delivered on the board's own retries ({refused} refused, {len(left)} left queued);"
            " recovery: restart to the last event stored"
        ),
        detail={
            "queued": len(queued),
            "stored": len(stored),
            "not_on_flash": missing,
            "refused": refused,
            "left_queued": left,
            "listening_s": round(listening, 1),
            "board_boots": boots,
            "failures": len(left),
        },
    )
