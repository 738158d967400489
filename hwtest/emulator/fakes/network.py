# Fake `network` Wi-Fi station: association follows the access point state the test sets.
import time

from _hw import call

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_BEACON_TIMEOUT = 200
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204


class WLAN:
    def __init__(self, interface=STA_IF):
        self._active = False
        self._ssid = None
        self._since = 0

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._ssid = None
        return None

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._ssid = ssid
        self._since = time.ticks_ms()

    def disconnect(self):
        self._ssid = None

    def status(self, param=None):
        ap = call("wifi")
        if param == "rssi":
            return ap["rssi"]
        if not self._ssid:
            return STAT_IDLE
        if time.ticks_diff(time.ticks_ms(), self._since) < 150:
            return STAT_CONNECTING  # association and DHCP take a moment
        return {"up": STAT_GOT_IP, "badauth": STAT_WRONG_PASSWORD}.get(ap["state"], STAT_NO_AP_FOUND)

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, *a):
        return ("192.168.4.23", "255.255.255.0", "192.168.4.1", "192.168.4.1")

    def config(self, *a, **kw):
        if a and a[0] == "mac":
            return b"\x24\x0a\xc4\xe0\x0c\x01"
        return None
