"""The board's self-test after `alpr deploy`: camera, ADC readings, Wi-Fi RSSI, gateway, clock.

A small script runs on the board with `mpremote exec`, right after a reset: connecting interrupts
the firmware in its boot grace window, so the board answers at its REPL before it sleeps. The
script uses the deployed firmware's own modules (its site config, ADC reading, Wi-Fi and camera
code), so what passes here is what the firmware will do on the pole. It prints one JSON line; the
host judges it and prints one line per check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_CLOCK_SKEW_S = 300  # the gateway's default clock_skew_s: beyond it captures are refused
MIN_RSSI_DBM = -80  # weaker than this, uploads at the site will be slow and fail often

BOARD_SCRIPT = """
import json, time
import cfg, hw
r = {}
try:
    conf = cfg.load()
    r['camera_id'] = conf['camera']
except Exception as e:
    conf = None
    r['config'] = 'error: %s' % e
if conf:
    a = conf['adc']
    try:
        r['battery_v'] = hw.volts(a['battery_pin'], a['battery_divider'])
        r['solar_v'] = hw.volts(a['solar_pin'], a['solar_divider'])
    except Exception as e:
        r['adc'] = 'error: %s' % e
    try:
        import cam
        c = dict(conf)
        c['burst'] = 1
        f = cam.burst(c)[0]
        r['camera'] = 'ok' if f[:2] == b'\\xff\\xd8' else 'error: not a JPEG'
        r['frame_bytes'] = len(f)
    except ImportError as e:
        r['camera'] = 'error: no camera driver in this MicroPython (%s)' % e
    except Exception as e:
        r['camera'] = 'error: %s' % e
    w = None
    try:
        w = hw.wifi_up(conf['wifi']['ssid'], conf['wifi']['password'], conf['wifi_timeout_ms'])
        r['wifi'] = 'ok' if w else 'error: no connection to %s' % conf['wifi']['ssid']
        if w:
            r['rssi'] = hw.rssi(w)
    except Exception as e:
        r['wifi'] = 'error: %s' % e
    if w:
        try:
            import socket
            u = conf['gateway'].split('://', 1)[-1].split('/', 1)[0]
            h, _, p = u.rpartition(':')
            s = socket.socket()
            s.settimeout(5)
            s.connect(socket.getaddrinfo(h or u, int(p or 80))[0][-1])
            s.send(b'GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' % u.encode())
            line = s.recv(64).split(b'\\r\\n')[0].decode()
            s.close()
            r['gateway'] = 'ok: ' + line if line.startswith('HTTP/') else 'error: not HTTP: ' + line
        except Exception as e:
            r['gateway'] = 'error: %s' % e
        hw.wifi_down(w)
r['clock'] = hw.now()
r['clock_set'] = hw.clock_ok()
print('SELFTEST ' + json.dumps(r))
"""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def parse_output(output: str) -> dict[str, object]:
    """The board's JSON line; ValueError when the board printed none (the message has its output)."""
    for line in output.splitlines():
        if line.startswith("SELFTEST "):
            result: dict[str, object] = json.loads(line[len("SELFTEST ") :])
            return result
    raise ValueError(f"the board gave no self-test result:\n{output.strip()}")


def judge(result: dict[str, object], host_time: float | None = None) -> list[Check]:
    """One verdict per check, from the board's result and the host's clock."""
    host_time = time.time() if host_time is None else host_time
    checks: list[Check] = []
    if "config" in result:
        checks.append(Check("config", False, str(result["config"])))
    else:
        checks.append(Check("config", True, f"site.json for {result.get('camera_id')}"))
        camera = str(result.get("camera", "error: not run"))
        if camera == "ok":
            camera = f"a {result.get('frame_bytes')}-byte JPEG from the sensor"
            checks.append(Check("camera", True, camera))
        else:
            checks.append(Check("camera", False, camera))
        if "adc" in result:
            checks.append(Check("adc", False, str(result["adc"])))
        else:
            battery, solar = result.get("battery_v"), result.get("solar_v")
            ok = isinstance(battery, int | float) and 2.5 <= battery <= 4.5
            checks.append(
                Check(
                    "adc", ok, f"battery {battery} V, solar {solar} V (battery 2.5-4.5 V expected)"
                )
            )
        wifi = str(result.get("wifi", "error: not run"))
        rssi = result.get("rssi")
        if wifi == "ok" and isinstance(rssi, int):
            strong = rssi >= MIN_RSSI_DBM
            note = "" if strong else f" (weaker than {MIN_RSSI_DBM} dBm: move the antenna or AP)"
            checks.append(Check("wifi", strong, f"RSSI {rssi} dBm{note}"))
        else:
            checks.append(Check("wifi", False, wifi))
        gateway = str(result.get("gateway", "error: not tried (no Wi-Fi)"))
        checks.append(Check("gateway", gateway.startswith("ok"), gateway))
    board_time = result.get("clock")
    if isinstance(board_time, int | float):
        skew = round(board_time - host_time)
        ok = abs(skew) <= MAX_CLOCK_SKEW_S
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(board_time))
        note = "" if ok else " (set from NTP or the gateway's signed answer on the first contact)"
        checks.append(Check("clock", ok, f"{when}, {skew:+d} s from this computer{note}"))
    return checks


def run_selftest(mpremote: Callable[..., str], port: str) -> list[Check]:
    """Reset, interrupt the firmware at boot, run the script, reset again into the firmware."""
    mpremote(port, "reset")
    output = mpremote(port, "exec", BOARD_SCRIPT, "+", "reset", timeout=120)
    return judge(parse_output(output))


def report(checks: list[Check]) -> str:
    return "\n".join(f"  {'ok  ' if c.ok else 'FAIL'} {c.name:<8} {c.detail}" for c in checks)
