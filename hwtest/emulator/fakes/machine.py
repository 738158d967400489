# Fake `machine` for the emulated ESP32 (MicroPython). Same names and numbers as the esp32 port.
import time

from _hw import call

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
PIN_WAKE = EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6

_boot = call("boot")
_wake = {}  # filled by esp32.wake_on_ext0/ext1, read by deepsleep


def reset_cause():
    return _boot["cause"]


def wake_reason():
    return _boot["wake"] or 0


def deepsleep(ms=0):
    call("deepsleep", ms=ms, wake=_wake)
    raise SystemExit  # the board is off: nothing after this line runs


def lightsleep(ms=0):
    time.sleep_ms(ms)


def reset():
    call("reset")
    raise SystemExit


def soft_reset():
    reset()


def idle():
    call("idle", ms=10)


def freq(hz=None):
    return 240000000


def unique_id():
    return b"\x24\x0a\xc4\xe0\x0c\x01"


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._v = value or 0

    def init(self, *a, **kw):
        pass

    def value(self, v=None):
        if v is not None:
            self._v = v
            return None
        return call("pin", pin=self.id)["v"]

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self._v = 1

    def off(self):
        self._v = 0

    def irq(self, *a, **kw):
        return None


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=3):
        self._pin = pin.id if isinstance(pin, Pin) else pin

    def atten(self, a):
        pass

    def width(self, w):
        pass

    def read_uv(self):
        return int(call("adc", pin=self._pin)["v"] * 1000000)

    def read_u16(self):
        return min(65535, int(call("adc", pin=self._pin)["v"] / 3.3 * 65535))


class RTC:
    def datetime(self, dt=None):
        if dt is None:
            t = time.localtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        # (Y, M, D, weekday, h, m, s, subseconds) -> Unix seconds; the fake `time` counts from 1970
        unix = time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        call("time_set", t=list(dt), unix=unix)
        return None

    def memory(self, data=None):
        if data is None:
            return bytes.fromhex(call("rtc_get")["mem"])
        if len(data) > 2048:
            raise ValueError("RTC memory holds 2048 bytes")
        call("rtc_set", mem=bytes(data).hex())
        return None


class WDT:
    def __init__(self, id=0, timeout=5000):
        call("wdt", timeout=timeout)

    def feed(self):
        call("feed")
