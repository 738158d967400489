# The flash queue of events the gateway has not acknowledged: one file per event, named by its
# sequence number, bounded in count; the oldest is dropped first and the drop is counted.
import json
import os
import struct

DIR = "q"


def _ensure(d: str) -> None:
    try:
        os.mkdir(d)
    except OSError:
        pass  # it exists


def seqs(d: str = DIR) -> list:
    """Queued sequence numbers, oldest first."""
    try:
        names = os.listdir(d)
    except OSError:
        return []
    return sorted(int(n[:-4]) for n in names if n.endswith(".evt"))


def _path(seq: int, d: str) -> str:
    return "%s/%010d.evt" % (d, seq)


def put(seq: int, body: bytes, limit: int, d: str = DIR) -> int:
    """Queue an event; return how many older events were dropped to make room."""
    _ensure(d)
    for n in os.listdir(d):
        if n.endswith(".tmp"):
            os.remove(d + "/" + n)  # half a body from a power cut: it was never queued
    dropped = 0
    queued = seqs(d)
    while len(queued) >= limit:
        os.remove(_path(queued.pop(0), d))
        dropped += 1
    tmp = _path(seq, d) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(body)
    os.rename(tmp, _path(seq, d))  # a power cut leaves the old state or the new, never half a body
    return dropped


def get(seq: int, d: str = DIR) -> bytes:
    with open(_path(seq, d), "rb") as f:
        return f.read()


def remove(seq: int, d: str = DIR) -> None:
    try:
        os.remove(_path(seq, d))
    except OSError:
        pass


def restamp(seq: int, step: float, d: str = DIR) -> None:
    """Move a queued event's capture time by step seconds (its clock was that far off). The file is
    replaced atomically; the frames are written from the old body, not copied."""
    body = get(seq, d)
    n = struct.unpack(">I", body[:4])[0]
    meta = json.loads(body[4:4 + n])
    meta["captured"] = meta["captured"] + step
    m = json.dumps(meta).encode()
    tmp = _path(seq, d) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack(">I", len(m)))
        f.write(m)
        f.write(memoryview(body)[4 + n:])
    os.rename(tmp, _path(seq, d))
