# The emulated board's wires: every fake hardware call is one synchronous JSON request to the
# emulator's main thread. Only the fakes import this; the firmware never does.
import json

import _board


def call(op, **kw):
    r = json.loads(_board.call(op, json.dumps(kw)))
    if r.get("interrupt"):
        raise KeyboardInterrupt
    if r.get("error"):
        raise RuntimeError(r["error"])
    return r
