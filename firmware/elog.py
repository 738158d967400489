# A small ring of exception reports on flash: the last N, each cut to a few hundred bytes, so that
# a technician can see why a camera on a pole misbehaved without the flash filling up.
import sys

PATH = "errors.log"
KEEP = 8
SEP = "\n--\n"


def text(exc: BaseException) -> str:
    if hasattr(sys, "print_exception"):  # MicroPython
        import io

        buf = io.StringIO()
        sys.print_exception(exc, buf)
        return buf.getvalue()
    import traceback  # CPython, for the unit tests

    return "".join(traceback.format_exception(exc))  # type: ignore[attr-defined, unused-ignore]


def entries(path: str = PATH) -> list:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    return [e for e in text.split(SEP) if e]


def record(exc: BaseException, when: int = 0, path: str = PATH, keep: int = KEEP) -> None:
    """Append one report and keep the last `keep`; never raises (it runs while handling a fault)."""
    try:
        entry = ("t=%d " % when) + text(exc)[-400:]
        old = entries(path)[-(keep - 1):] if keep > 1 else []
        with open(path, "w") as f:
            f.write(SEP.join(old + [entry]) + SEP)
    except Exception:  # noqa: BLE001 - a full or broken flash must not stop the board sleeping
        pass
