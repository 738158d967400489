# Fake `time` for the emulated ESP32: MicroPython's own module, with the wall clock read from the
# board's RTC, which the emulator keeps as an offset from the host's clock. A board's RTC can be
# hours off (set by hand, set to local time); machine.RTC().datetime(...) moves it, as on the chip.
import sys

_path = sys.path[:]
sys.path.clear()  # so that the imports below find the built-in module, not this file
import time as _builtin  # noqa: E402
from time import *  # noqa: E402,F403

sys.path.extend(_path)
del _path

from _hw import call  # noqa: E402


def time():
    return _builtin.time() + call("clock")["offset"]


def time_ns():
    return int(time() * 1000000000)


def gmtime(secs=None):
    return _builtin.gmtime(int(time()) if secs is None else secs)


def localtime(secs=None):
    return _builtin.localtime(int(time()) if secs is None else secs)
