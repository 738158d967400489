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
    if cause == "trigger" and mode == "ok":
        captured = hw.now()
        import cam

        frames = cam.burst(conf, hw.feed)
        kept = fit(frames, conf["max_event_bytes"])
        if kept < len(frames):
            elog.record(RuntimeError("burst over max_event_bytes: %d of %d frames kept" % (
                kept, len(frames))), int(hw.now()))
            del frames[kept:]
        if not frames:  # not even one frame fits: the gateway could only refuse it
            st["rejected"] = st.get("rejected", 0) + 1
        else:
            meta = {"captured": captured, "trigger": conf["trigger"]["kind"], "battery_v": battery,
                    "solar_v": solar}
            seq = hw.next_seq(st)
            if "unsure_from" not in st:
                st["unsure_from"] = seq  # stamped by a clock the gateway has not vouched for yet
            meta["awake_ms"] = hw.since(t0)  # wake to event on flash: what the power budget uses
            body = proto.encode_event(meta, frames)
            del frames  # the body is the only copy now
            # on flash before the radio starts: a reset or power cut from here on cannot lose it
            st["dropped"] = st.get("dropped", 0) + evq.put(seq, body, conf["queue_max"])
            del body
        hw.feed()
    wlan = hw.wifi_up(conf["wifi"]["ssid"], conf["wifi"]["password"], conf["wifi_timeout_ms"])
    hw.feed()
    if wlan:
        sync_clock(conf, st)
        flush(conf, st)
        if cause != "trigger" or st.get("dropped") or st.get("rejected") or mode == "low":
            heartbeat(conf, st, battery, solar, hw.rssi(wlan), None)
    hw.wifi_down(wlan)
    sleep_ms = conf["heartbeat_s"] * 1000
    if evq.seqs() and mode == "ok":
        st["fails"] = st.get("fails", 0) + 1
        sleep_ms = retry_ms(conf["retry_s"], conf["heartbeat_s"], st["fails"])
    else:
        st["fails"] = 0
    st["awake_ms"] = hw.since(t0)
    hw.save_state(st)
    return sleep_ms, conf["trigger"] if mode == "ok" else None


META_ROOM = 1024  # the event's JSON meta and framing, generously


def fit(frames: list, limit: int) -> int:
    """How many of the burst's first frames fit in one event of at most `limit` bytes. The gateway
    refuses a bigger body before reading it, unsigned, so the camera could never tell that refusal
    from an impostor's and would keep the event at the head of its queue for ever."""
    size = META_ROOM
    for i, f in enumerate(frames):
        size += 4 + len(f)
        if size > limit:
            return i
    return len(frames)


def retry_ms(first_s: int, most_s: int, fails: int) -> int:
    """While events wait: retry_s doubled per failed wake up to heartbeat_s, then a random point in
    its upper half, so that the cameras of a site whose gateway comes back do not all call at once."""
    import random

    d = min(most_s, first_s << min(fails - 1, 16)) * 1000
    return int(d / 2 + random.random() * d / 2)


def sync_clock(conf: dict, st: dict) -> None:
    """NTP when the site config names a server (daily, or when the RTC lost power). Without it the
    clock follows the gateway's signed answers (see send)."""
    if conf.get("ntp") and (not hw.clock_ok() or hw.now() - st.get("synced", 0) >= 86400):
        if hw.ntp(conf["ntp"]):
            st["synced"] = int(hw.now())


def adopt_time(t: object, st: dict) -> float:
    """Set the RTC from a verified answer's time when it is off; the step taken (0: none)."""
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        return 0
    step = t - hw.now()
    if abs(step) <= 2:
        return 0
    hw.set_clock(t)
    st["synced"] = int(t)
    return step


def restamp(st: dict, step: float) -> None:
    """The gateway refused our clock as `step` seconds off: the events captured since it last took
    our time carry that error, so move their capture times by the step on the flash before they are
    sent. None of them can be stored yet: every request stamped by that clock was refused."""
    first = st.pop("unsure_from", None)
    if first is None:
        return
    n = 0
    for seq in evq.seqs():
        if seq >= first:
            evq.restamp(seq, step)
            hw.feed()
            n += 1
    print("app: clock was", step, "s off;", n, "queued capture times corrected")


def send(conf: dict, st: dict, path: str, body: bytes, seq: int, ctype: str, reread: object = None) -> tuple:
    """A signed POST: (status, answer, verified). The clock is taken only from an answer whose
    signature verifies with our secret; a request refused as stale is sent once more with the new
    time (and, for an event, its corrected capture time: reread() gives the body again)."""
    for _ in range(2):
        status, answer, verified = proto.post(conf, path, body, seq, ctype, int(hw.now()))
        hw.feed()
        if not verified:
            break
        stale = status == 401 and "stale" in str(answer.get("error"))
        step = adopt_time(answer.get("time"), st)
        if not stale:
            st.pop("unsure_from", None)  # it took our time: what we stamped is within its skew
            break
        if not step:
            break
        restamp(st, step)
        if reread is not None:
            body = reread()  # type: ignore[operator]
    return status, answer, verified


# Answers that resending the same bytes can never change (PROTOCOL.md). 401 and 403 are not here:
# a secret or a camera entry the gateway does not have yet is fixed on the gateway, not by dropping;
# nor are 503 and 507 (the gateway's store damaged or its disk full): the event waits on flash.
HOPELESS = (400, 409, 411, 413, 415, 422)


def deliver(conf: dict, seq: int, body: bytes, st: dict) -> int:
    """Send one event: 1 stored (200/201), -1 rejected for good, 0 keep it queued.

    Only an answer signed with our secret may take an event off the flash: anyone else on the
    network could otherwise answer 201 (or 400) and make the camera drop its captures."""
    try:
        status, answer, verified = send(
            conf, st, proto.EVENT_PATH, body, seq, proto.EVENT_TYPE, lambda: evq.get(seq)
        )
    except OSError as e:
        print("app: event", seq, "not sent:", repr(e))
        return 0
    if not verified:
        print("app: event", seq, "answered", status, "without a valid signature: kept")
        return 0
    if status in (200, 201):
        return 1
    print("app: event", seq, "answered", status, answer)
    if status in HOPELESS:
        elog.record(RuntimeError("event %d rejected: %d %s" % (seq, status, answer)), int(hw.now()))
        return -1
    return 0


def flush(conf: dict, st: dict) -> None:
    """Send queued events oldest first; each leaves the flash only once the gateway stored it or
    refused it for good. Stop at the first that is to be kept."""
    for seq in evq.seqs():
        r = deliver(conf, seq, evq.get(seq), st)
        if r == 0:
            return
        if r < 0:
            st["rejected"] = st.get("rejected", 0) + 1
        evq.remove(seq)


def heartbeat(conf: dict, st: dict, battery: float, solar: float, rssi: int, error: object) -> None:
    beat = {
        "battery_v": battery, "solar_v": solar, "rssi": rssi, "firmware": VERSION,
        "free_flash": hw.free_flash(), "queued": len(evq.seqs()), "dropped": st.get("dropped", 0),
        "rejected": st.get("rejected", 0), "error": error, "time": int(hw.now()), "boots": st.get("boots", 0),
        "awake_ms_last": st.get("awake_ms", 0), "errors_logged": len(elog.entries()),
    }
    try:
        status, _, verified = send(conf, st, proto.HEARTBEAT_PATH, json.dumps(beat).encode(), 0,
                                   "application/json")
    except OSError as e:
        print("app: heartbeat not sent:", repr(e))
        return
    if status == 200 and verified:
        st["dropped"] = st["rejected"] = 0  # reported: the gateway has the counts now


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
