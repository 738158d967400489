# One wake of the camera: read the battery, capture if triggered, deliver, report, sleep.
# Synchronous on purpose (the emulator's asyncio is not the board's). Whatever happens, the board
# ends in deep sleep: exceptions go to the error ring, a hang is cut by the watchdog.
import json

import cfg
import elog
import evq
import hw
import proto

VERSION = "1.0.0"
BOOT_GRACE_MS = 1500
SAFE_SLEEP_S = 900


def main() -> None:
    t0 = hw.ticks()
    cause = hw.wake_cause()
    if cause == "boot":
        hw.grace(BOOT_GRACE_MS)  # Ctrl-C here reaches the REPL (alpr deploy relies on it)
    sleep_ms, trigger = SAFE_SLEEP_S * 1000, None
    try:
        hw.watchdog(30000)
        sleep_ms, trigger = wake(cause, t0)
    except Exception as e:  # noqa: BLE001 - log it and sleep: a camera must never hang awake
        print("app: error:", elog.text(e))
        elog.record(e, int(hw.now()))
    try:
        hw.sleep(sleep_ms, trigger)
    except Exception as e:  # noqa: BLE001 - e.g. a trigger pin that cannot wake: sleep without it
        elog.record(e, int(hw.now()))
        hw.sleep(sleep_ms, None)


def wake(cause: str, t0: int) -> tuple:
    """Do this wake's work; return (sleep ms, trigger config to wake on or None)."""
    st = hw.load_state()
    st["boots"] = st.get("boots", 0) + 1
    try:
        conf = cfg.load()
    except cfg.ConfigError as e:
        return safe_mode(str(e), st)
    cfg.save_ident(conf)
    hw.watchdog(conf["wdt_ms"])
    a = conf["adc"]
    battery = hw.volts(a["battery_pin"], a["battery_divider"])  # ADC before Wi-Fi
    solar = hw.volts(a["solar_pin"], a["solar_divider"])
    th = conf["thresholds"]
    mode = "critical" if battery < th["critical_v"] else "low" if battery < th["low_v"] else "ok"
    print("app: wake", cause, "battery", battery, "mode", mode)
    if mode == "critical":
        hw.save_state(st)
        return conf["critical_sleep_s"] * 1000, None  # no radio, no camera, no trigger
    event = None
    if cause == "trigger" and mode == "ok":
        captured = hw.now()
        import cam

        frames = cam.burst(conf, hw.feed)
        meta = {"captured": captured, "trigger": conf["trigger"]["kind"], "battery_v": battery,
                "solar_v": solar}
        event = (hw.next_seq(st), meta, frames)
    wlan = hw.wifi_up(conf["wifi"]["ssid"], conf["wifi"].get("password", ""), conf["wifi_timeout_ms"])
    hw.feed()
    if event:
        seq, meta, frames = event
        meta["awake_ms"] = hw.since(t0)  # captures to POST: the figure the power budget uses
        body = proto.encode_event(meta, frames)
        del frames  # the body is the only copy now
        event = None
        if not wlan or not deliver(conf, seq, body, st):
            st["dropped"] = st.get("dropped", 0) + evq.put(seq, body, conf["queue_max"])
            print("app: queued event", seq)
        del body
    if wlan:
        flush(conf, st)
        if cause != "trigger" or st.get("dropped") or mode == "low":
            heartbeat(conf, st, battery, solar, hw.rssi(wlan), None)
    hw.wifi_down(wlan)
    st["awake_ms"] = hw.since(t0)
    hw.save_state(st)
    return conf["heartbeat_s"] * 1000, conf["trigger"] if mode == "ok" else None


def sync_clock(conf: dict, st: dict) -> None:
    """NTP if configured, else the gateway's clock; kept in the RTC across deep sleep."""
    if hw.clock_ok() and hw.now() - st.get("synced", 0) < 86400:
        return
    if not (conf.get("ntp") and hw.ntp(conf["ntp"])):
        hw.set_clock(proto.gateway_time(conf))
    st["synced"] = int(hw.now())


def deliver(conf: dict, seq: int, body: bytes, st: dict) -> bool:
    """Send one event; True when it may leave the queue (PROTOCOL.md: 200/201, or a hopeless 4xx)."""
    try:
        sync_clock(conf, st)
        status, answer = proto.post(conf, proto.EVENT_PATH, body, seq, proto.EVENT_TYPE, int(hw.now()))
        hw.feed()
    except OSError as e:
        print("app: event", seq, "not sent:", repr(e))
        return False
    if status in (200, 201):
        return True
    if status == 401 and "stale" in str(answer.get("error")):
        st["synced"] = 0  # our clock is off: resync next time, keep the event
        return False
    print("app: event", seq, "rejected", status, answer)
    if 400 <= status < 500 and status not in (409, 413):
        elog.record(RuntimeError("event %d rejected: %d %s" % (seq, status, answer)), int(hw.now()))
        return True  # resending cannot succeed
    return False


def flush(conf: dict, st: dict) -> None:
    """Send queued events oldest first; stop at the first that does not go."""
    for seq in evq.seqs():
        if not deliver(conf, seq, evq.get(seq), st):
            return
        evq.remove(seq)


def heartbeat(conf: dict, st: dict, battery: float, solar: float, rssi: int, error: object) -> None:
    beat = {
        "battery_v": battery, "solar_v": solar, "rssi": rssi, "firmware": VERSION,
        "free_flash": hw.free_flash(), "queued": len(evq.seqs()), "dropped": st.get("dropped", 0),
        "error": error, "time": int(hw.now()), "boots": st.get("boots", 0),
        "awake_ms_last": st.get("awake_ms", 0), "errors_logged": len(elog.entries()),
    }
    try:
        sync_clock(conf, st)
        beat["time"] = int(hw.now())
        status, answer = proto.post(conf, proto.HEARTBEAT_PATH, json.dumps(beat).encode(), 0,
                                    "application/json", beat["time"])
    except OSError as e:
        print("app: heartbeat not sent:", repr(e))
        return
    if status == 200:
        st["dropped"] = 0  # reported: the gateway has the count now
        if "time" in answer and abs(answer["time"] - hw.now()) > 2:
            hw.set_clock(answer["time"])


def safe_mode(error: str, st: dict) -> tuple:
    """A missing or corrupt config: no captures; report the error in a heartbeat if we can."""
    print("app: safe mode:", error)
    elog.record(RuntimeError("safe mode: " + error), int(hw.now()))
    try:
        ident = cfg.load_ident()
    except (OSError, ValueError):
        hw.save_state(st)
        return SAFE_SLEEP_S * 1000, None  # nowhere to report to: wait for a technician
    wlan = hw.wifi_up(ident["wifi"]["ssid"], ident["wifi"].get("password", ""), ident["wifi_timeout_ms"])
    if wlan:
        heartbeat(ident, st, 0.0, 0.0, hw.rssi(wlan), error)
        hw.wifi_down(wlan)
    hw.save_state(st)
    return SAFE_SLEEP_S * 1000, None
