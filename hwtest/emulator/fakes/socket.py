# Fake `socket` (TCP client only): the emulator's main thread holds the real connection, so the
# firmware reaches a real gateway on the host.
from _hw import call

AF_INET = 2
SOCK_STREAM = 1
SOCK_DGRAM = 2
IPPROTO_TCP = 6
SOL_SOCKET = 1
SO_REUSEADDR = 4


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    return [(AF_INET, SOCK_STREAM, IPPROTO_TCP, "", (host, port))]


def _check(r):
    if "errno" in r:
        raise OSError(r["errno"])
    return r


class socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        if type != SOCK_STREAM:
            raise OSError(95)  # EOPNOTSUPP: only TCP goes through the bridge
        self._id = None
        self._timeout = 10000

    def settimeout(self, t):
        self._timeout = 10000 if t is None else max(1, int(t * 1000))

    def setblocking(self, flag):
        pass

    def setsockopt(self, *a):
        pass

    def connect(self, addr):
        self._id = _check(call("sconnect", host=addr[0], port=addr[1], timeout=self._timeout))["id"]

    def send(self, data):
        b = bytes(data).hex()  # hex: C-speed both ways, unlike this port's Python binascii
        return _check(call("ssend", id=self._id, data=b))["n"]

    def sendall(self, data):
        self.send(data)

    write = send

    def recv(self, n):
        return bytes.fromhex(_check(call("srecv", id=self._id, n=n, timeout=self._timeout))["data"])

    read = recv

    def close(self):
        if self._id is not None:
            call("sclose", id=self._id)
            self._id = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
