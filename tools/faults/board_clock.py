"""The camera's clock wrong by hours (ahead and behind), on the emulated board against the real
gateway.

With the Wi-Fi down the board's RTC is put hours off and events are captured, so that they wait on
the flash stamped by the wrong clock; then the Wi-Fi comes back. The gateway refuses the first
request as stale (401, signed, with its time); the board sets its clock from that signed answer and
sends again. At the end every event is stored once, the board's clock is right, and each stored
capture time is the real time of its trigger (the firmware re-stamps what it captured under the
wrong clock), not hours off.
"""

from __future__ import annotations

import re
import time

from tools.faults.board import bench, count
from tools.faults.row import Env, Row, Size

HOUR = 3600
OFFSETS = {"short": [3 * HOUR, -3 * HOUR], "full": [3 * HOUR, -3 * HOUR, 11 * HOUR, -11 * HOUR]}
EVENTS = {"short": 1, "full": 3}  # captured per offset while the Wi-Fi is down
TIME_SLACK_S = (
    5.0  # a capture time may be this far outside its trigger's wake (clock steps are whole s)
)
CLOCK_SLACK_S = 5.0  # how far the board's clock may be off after the correction


def run(size: Size, env: Env) -> Row:
    offsets, per = OFFSETS[size], EVENTS[size]
    with bench() as b:
        board = b.board
        wakes: dict[int, tuple[float, float]] = {}  # sequence -> real time around its wake
        recoveries: list[float] = []
        clock_after: list[float] = []
        for offset in offsets:
            board.set_wifi("down")
            board.set_clock_offset(offset)
            for _ in range(per):
                before, t0 = set(board.queued()), time.time()
                if not board.trigger():
                    raise RuntimeError(f"the board did not wake:\n{board.console()[-2000:]}")
                b.sleep_ms()
                for seq in set(board.queued()) - before:
                    wakes[seq] = (t0, time.time())
            board.set_wifi("up")
            start = time.monotonic()
            if not board.timer():
                raise RuntimeError(f"no retry wake armed:\n{board.console()[-2000:]}")
            b.sleep_ms()
            stored = b.events()
            if board.queued() or {s for s in wakes} - {e["sequence"] for e in stored}:
                raise RuntimeError(
                    f"clock {offset:+d} s: events still queued {board.queued()}:\n"
                    f"{board.console()[-3000:]}"
                )
            recoveries.append(time.monotonic() - start)
            clock_after.append(float(board.state()["clockOffsetS"]))
        stored = b.events()
        stale = len(re.findall(r"stale timestamp", b.gateway_log()))
    lost, duplicated = count(stored, set(wakes))
    errors = {}
    for e in stored:
        t0, t1 = wakes.get(e["sequence"], (e["captured"], e["captured"]))
        errors[e["sequence"]] = max(t0 - e["captured"], e["captured"] - t1, 0.0)
    bad_times = sum(err > TIME_SLACK_S for err in errors.values())
    bad_clock = sum(abs(c) > CLOCK_SLACK_S for c in clock_after)
    worst = max(errors.values(), default=0.0)
    return Row(
        name="camera clock wrong by hours (ahead and behind), emulated board",
        injected=len(offsets),
        acknowledged=len(wakes),
        lost=lost,
        duplicated=duplicated,
        recovery_s=round(max(recoveries), 1),
        notes=(
            f"RTC off by {', '.join(f'{o / HOUR:+.0f} h' for o in offsets)}, {per} event(s) queued"
            f" each: {stale} refused as stale (401, signed time), clock then set from the answer"
            f" (off by at most {max(abs(c) for c in clock_after):.1f} s after);"
            f" {bad_times} capture times wrong, worst {worst:.1f} s off"
        ),
        detail={
            "failures": bad_times + bad_clock,
            "bad_capture_times": bad_times,
            "clock_not_corrected": bad_clock,
            "clock_offset_after_s": [round(c, 1) for c in clock_after],
            "stale_refusals": stale,
            "capture_error_s": {str(k): round(v, 1) for k, v in sorted(errors.items())},
            "recoveries_s": [round(r, 1) for r in recoveries],
        },
    )
