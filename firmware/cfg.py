# The site config (site.json, written by `alpr provision`): checked once at boot; any problem is a
# ConfigError whose message says which key is wrong, and the board goes to safe mode with it.
import json

PATH = "site.json"
IDENT = "ident.json"  # camera, gateway, secret, Wi-Fi of the last good config: for safe mode
FRAME_SIZES = ("QVGA", "CIF", "HVGA", "VGA", "SVGA", "XGA", "HD", "SXGA", "UXGA")
TRIGGERS = ("radar", "pir", "beam", "timer", "manual")
RTC_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)

DEFAULTS: dict = {
    "burst": 3,
    "frame_size": "VGA",
    "jpeg_quality": 12,
    "trigger": {"pin": 13, "level": 1, "kind": "radar"},
    # solar 3.0 (200k/100k): a 6 V panel's ~7 V in cold sun is ~2.3 V at the pin, within the ADC
    "adc": {"battery_pin": 14, "battery_divider": 2.0, "solar_pin": 15, "solar_divider": 3.0},
    "thresholds": {"low_v": 3.45, "critical_v": 3.3},
    "heartbeat_s": 3600,
    "retry_s": 60,  # first retry delay while events wait; doubles (with jitter) up to heartbeat_s
    "critical_sleep_s": 21600,
    "wifi_timeout_ms": 8000,
    "http_timeout_s": 8,
    "queue_max": 20,
    "max_event_bytes": 8000000,  # the gateway's max_body_bytes: a bigger event could never be stored
    "ntp": None,
    "wdt_ms": 30000,
}


class ConfigError(ValueError):
    pass


def _num(d: dict, key: str, lo: float, hi: float, integer: bool = True, name: str = "") -> None:
    v = d[key]
    kind = int if integer else (int, float)
    if isinstance(v, bool) or not isinstance(v, kind) or not lo <= v <= hi:
        raise ConfigError("%s: must be %s from %s to %s, got %r" % (
            name + key, "an integer" if integer else "a number", lo, hi, v))


def _str(d: dict, key: str, name: str = "", empty: bool = False) -> None:
    v = d.get(key)
    if not isinstance(v, str) or not (v or empty):
        raise ConfigError("%s: must be a %sstring, got %r" % (name + key, "" if empty else "non-empty ", v))


def check(conf: dict) -> dict:
    """Fill defaults and validate every value's type and range; return the config. A value of the
    wrong type must stop here, as a ConfigError naming it, not as a TypeError deep in a wake."""
    if not isinstance(conf, dict):
        raise ConfigError("site config must be a JSON object")
    for key in ("camera", "gateway", "secret"):
        if not isinstance(conf.get(key), str) or not conf[key]:
            raise ConfigError("%s: missing" % key)
    if not conf["gateway"].startswith("http://"):
        raise ConfigError("gateway: must be an http:// URL, got %r" % conf["gateway"])
    wifi = conf.get("wifi")
    if not isinstance(wifi, dict) or not isinstance(wifi.get("ssid"), str) or not wifi["ssid"]:
        raise ConfigError("wifi.ssid: missing")
    wifi.setdefault("password", "")
    _str(wifi, "password", "wifi.", empty=True)
    for key in DEFAULTS:
        dflt = DEFAULTS[key]
        if key not in conf:
            conf[key] = dict(dflt) if isinstance(dflt, dict) else dflt
        elif isinstance(dflt, dict):
            if not isinstance(conf[key], dict):
                raise ConfigError("%s: must be an object, got %r" % (key, conf[key]))
            for sub in dflt:
                conf[key].setdefault(sub, dflt[sub])
    _num(conf, "burst", 1, 16)
    _num(conf, "jpeg_quality", 4, 63)
    _num(conf, "heartbeat_s", 60, 86400)
    _num(conf, "retry_s", 10, 86400)
    _num(conf, "critical_sleep_s", 600, 7 * 86400)
    _num(conf, "wifi_timeout_ms", 1000, 60000)
    _num(conf, "http_timeout_s", 1, 60, False)
    _num(conf, "queue_max", 1, 500)
    _num(conf, "max_event_bytes", 10000, 100000000)
    _num(conf, "wdt_ms", 5000, 120000)
    if conf["frame_size"] not in FRAME_SIZES:
        raise ConfigError("frame_size: one of %s, got %r" % (", ".join(FRAME_SIZES), conf["frame_size"]))
    if conf["ntp"] is not None:
        _str(conf, "ntp")
    t = conf["trigger"]
    _num(t, "pin", 0, 48, True, "trigger.")
    if t["pin"] not in RTC_PINS:
        raise ConfigError("trigger.pin: %r is not an RTC-capable pin (deep sleep wake)" % t["pin"])
    _num(t, "level", 0, 1, True, "trigger.")
    if t["kind"] not in TRIGGERS:
        raise ConfigError("trigger.kind: one of %s, got %r" % (", ".join(TRIGGERS), t["kind"]))
    a = conf["adc"]
    for key in ("battery_pin", "solar_pin"):
        _num(a, key, 0, 48, True, "adc.")
    for key in ("battery_divider", "solar_divider"):
        _num(a, key, 0.1, 100, False, "adc.")
    t = conf["thresholds"]
    _num(t, "low_v", 2.5, 4.5, False, "thresholds.")
    _num(t, "critical_v", 2.5, 4.5, False, "thresholds.")
    if not t["critical_v"] < t["low_v"]:
        raise ConfigError("thresholds: need 2.5 <= critical_v < low_v <= 4.5")
    pins = conf.get("camera_pins")
    if pins is not None:
        if not isinstance(pins, dict):
            raise ConfigError("camera_pins: must be an object, got %r" % pins)
        for key in pins:
            _num(pins, key, -1, 48, True, "camera_pins.")
    return conf


def load(path: str = PATH) -> dict:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("%s: missing (run alpr provision and alpr deploy)" % path)
    try:
        conf = json.loads(text)
    except ValueError:
        raise ConfigError("%s: not valid JSON" % path)
    try:
        return check(conf)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever check missed is still a config problem
        raise ConfigError("%s: %s %s" % (path, type(e).__name__, e))


def save_ident(conf: dict, path: str = IDENT) -> None:
    """Keep what safe mode needs to report a later bad config; written only when it changed."""
    ident = {k: conf[k] for k in ("camera", "gateway", "secret", "wifi", "http_timeout_s")}
    text = json.dumps(ident)
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)


def load_ident(path: str = IDENT) -> dict:
    with open(path) as f:
        ident = json.loads(f.read())
    ident.setdefault("http_timeout_s", DEFAULTS["http_timeout_s"])
    ident.setdefault("wifi_timeout_ms", DEFAULTS["wifi_timeout_ms"])
    return ident
