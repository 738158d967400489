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
    "adc": {"battery_pin": 14, "battery_divider": 2.0, "solar_pin": 15, "solar_divider": 2.0},
    "thresholds": {"low_v": 3.45, "critical_v": 3.3},
    "heartbeat_s": 3600,
    "critical_sleep_s": 21600,
    "wifi_timeout_ms": 8000,
    "http_timeout_s": 8,
    "queue_max": 20,
    "ntp": None,
    "wdt_ms": 30000,
}


class ConfigError(ValueError):
    pass


def _num(conf: dict, key: str, lo: float, hi: float) -> None:
    v = conf[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ConfigError("%s: must be a number from %s to %s, got %r" % (key, lo, hi, v))


def check(conf: dict) -> dict:
    """Fill defaults and validate; return the config."""
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
    for key in DEFAULTS:
        dflt = DEFAULTS[key]
        if key not in conf:
            conf[key] = dflt
        elif isinstance(dflt, dict):
            if not isinstance(conf[key], dict):
                raise ConfigError("%s: must be an object" % key)
            for sub in dflt:
                conf[key].setdefault(sub, dflt[sub])
    _num(conf, "burst", 1, 16)
    _num(conf, "jpeg_quality", 4, 63)
    _num(conf, "heartbeat_s", 60, 86400)
    _num(conf, "critical_sleep_s", 600, 7 * 86400)
    _num(conf, "wifi_timeout_ms", 1000, 60000)
    _num(conf, "http_timeout_s", 1, 60)
    _num(conf, "queue_max", 1, 500)
    _num(conf, "wdt_ms", 5000, 120000)
    if conf["frame_size"] not in FRAME_SIZES:
        raise ConfigError("frame_size: one of %s, got %r" % (", ".join(FRAME_SIZES), conf["frame_size"]))
    if conf["trigger"]["pin"] not in RTC_PINS:
        raise ConfigError("trigger.pin: %r is not an RTC-capable pin (deep sleep wake)" % conf["trigger"]["pin"])
    if conf["trigger"]["kind"] not in TRIGGERS:
        raise ConfigError("trigger.kind: one of %s" % ", ".join(TRIGGERS))
    t = conf["thresholds"]
    if not 2.5 <= t["critical_v"] < t["low_v"] <= 4.5:
        raise ConfigError("thresholds: need 2.5 <= critical_v < low_v <= 4.5")
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
    except KeyError as e:
        raise ConfigError("%s: missing key %s" % (path, e))


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
