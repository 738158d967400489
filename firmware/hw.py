# The hardware layer: the only module (with cam.py) that touches machine, esp32 and network.
# State that must survive deep sleep lives in RTC memory, with the sequence counter also on flash.
import json
import os
import time

import machine

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are not evaluated
    pass

EPOCH = 0 if time.gmtime(0)[0] == 1970 else 946684800  # esp32 counts from 2000, unix from 1970
STATE = ("state.json", "state.bak")  # two copies of the reservation, each replaced atomically
SEQ_BLOCK = 16  # sequence numbers reserved on flash at a time: one flash write per 16 events
SEQ_SKIP = 10000  # how far to jump when no copy can be read: a gap is harmless, a reuse is not

_wdt = None


def ticks() -> Any:
    return time.ticks_ms()


def since(t0: Any) -> int:
    return time.ticks_diff(time.ticks_ms(), t0)


def now() -> float:
    """Unix time from the RTC."""
    return time.time() + EPOCH


def clock_ok() -> bool:
    return now() > 1735689600  # 2025-01-01: an RTC that lost power starts far before this


def set_clock(unix: float) -> None:
    t = time.gmtime(int(unix) - EPOCH)
    machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))


def ntp(host: str) -> bool:
    try:
        import ntptime

        ntptime.host = host
        ntptime.settime()
        return True
    except Exception:  # noqa: BLE001 - no NTP: the gateway's clock will do
        return False


def wake_cause() -> str:
    """'trigger', 'timer' (deep sleep wakes) or 'boot' (power-on, reset, watchdog)."""
    if machine.reset_cause() == machine.DEEPSLEEP_RESET:
        r = machine.wake_reason()
        if r == machine.TIMER_WAKE:
            return "timer"
        if r in (machine.PIN_WAKE, machine.EXT1_WAKE):
            return "trigger"
    return "boot"


def reset_was_watchdog() -> bool:
    return machine.reset_cause() == machine.WDT_RESET


def grace(ms: int) -> None:
    """After a reset, a window in which Ctrl-C from a technician's tool reaches the REPL."""
    t0 = ticks()
    while since(t0) < ms:
        machine.idle()


def watchdog(ms: int) -> None:
    global _wdt
    _wdt = machine.WDT(timeout=ms)


def feed() -> None:
    if _wdt:
        _wdt.feed()


def volts(pin: int, divider: float) -> float:
    """Volts at a divided ADC input; call before Wi-Fi starts (ADC2 is shared with the radio)."""
    adc = machine.ADC(machine.Pin(pin))
    adc.atten(machine.ADC.ATTN_11DB)
    uv = 0
    for _ in range(4):
        uv += adc.read_uv()
    return round(uv / 4 / 1e6 * divider, 3)


def wifi_up(ssid: str, password: str, timeout_ms: int) -> object:
    """Connect within timeout_ms; return the WLAN or None. Never waits longer."""
    import network

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(ssid, password)
        t0 = ticks()
        while not wlan.isconnected():
            if since(t0) > timeout_ms or wlan.status() in (
                network.STAT_WRONG_PASSWORD, network.STAT_NO_AP_FOUND
            ) and since(t0) > 1000:
                wlan.active(False)
                return None
            time.sleep_ms(50)
            feed()
    return wlan


def rssi(wlan: object) -> int:
    try:
        return int(wlan.status("rssi"))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        return 0


def wifi_down(wlan: object) -> None:
    if wlan:
        wlan.active(False)  # type: ignore[attr-defined]


def free_flash() -> int:
    import os

    s = os.statvfs("/")
    return s[0] * s[3]


def load_state() -> dict:
    """The RTC-memory state; after power loss, rebuilt from flash with the sequence skipped ahead."""
    try:
        st = json.loads(machine.RTC().memory())
        if isinstance(st, dict) and "seq" in st:
            return st
    except ValueError:
        pass
    import evq

    queued = evq.seqs()
    reserved = reserved_on_flash(queued[-1] if queued else 0)
    return {"seq": reserved, "reserved": reserved, "dropped": 0, "synced": 0, "boots": 0}


def reserved_on_flash(last_queued: int = 0) -> int:
    """The highest reservation on flash; never below a number already used (PROTOCOL.md)."""
    best, bad = 0, False
    for path in STATE:
        try:
            with open(path) as f:
                n = json.loads(f.read())["reserved"]
            if isinstance(n, bool) or not isinstance(n, int):
                raise ValueError
            best = max(best, n)
        except OSError:
            pass  # never written: a new board
        except (ValueError, KeyError, TypeError):
            bad = True  # damaged on the flash itself (the writes are atomic)
    if bad:
        # the other copy is at most one reservation behind; with none readable, jump far ahead
        best = best + SEQ_BLOCK + 1 if best else last_queued + SEQ_SKIP
    return max(best, last_queued)


def save_state(st: dict) -> None:
    machine.RTC().memory(json.dumps(st).encode())


def write_atomic(path: str, text: str) -> None:
    """Replace a file so that a power cut leaves the old content or the new, never half of it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def next_seq(st: dict) -> int:
    """The next event number; never reused, even across a power loss (PROTOCOL.md)."""
    st["seq"] += 1
    if st["seq"] > st.get("reserved", 0):
        st["reserved"] = st["seq"] + SEQ_BLOCK
        text = json.dumps({"reserved": st["reserved"]})
        for path in STATE:
            write_atomic(path, text)
    save_state(st)
    return st["seq"]


def sleep(ms: int, trigger: object) -> None:
    """Deep sleep for ms (0: until the trigger), waking on the trigger pin when it is given."""
    import esp32

    if trigger:
        pin = machine.Pin(trigger["pin"], machine.Pin.IN)  # type: ignore[index]
        esp32.wake_on_ext0(pin, trigger["level"])  # type: ignore[index]
    machine.deepsleep(ms)
