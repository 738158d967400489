# Fake `esp32` module: the deep-sleep wake sources (RTC-capable pins only, as on the chip).
import machine

WAKEUP_ALL_LOW = 2
WAKEUP_ANY_HIGH = 3
RTC_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)


def _pin_id(pin):
    n = pin.id if isinstance(pin, machine.Pin) else pin
    if n not in RTC_PINS:
        raise ValueError("invalid pin for wake")
    return n


def wake_on_ext0(pin, level):
    if pin is None:
        machine._wake.pop("ext0", None)
        return
    machine._wake["ext0"] = {"pin": _pin_id(pin), "level": level}


def wake_on_ext1(pins, level):
    if not pins:
        machine._wake.pop("ext1", None)
        return
    machine._wake["ext1"] = {"pins": [_pin_id(p) for p in pins], "level": level}


def raw_temperature():
    return 120
