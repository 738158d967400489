"""Where the gateway service logs: stderr (the default), a file, or journald (`[logging]`).

A file is written through a WatchedFileHandler, which reopens it when logrotate has moved it, so
rotation needs no copytruncate and loses no line. For journald the service writes to stderr with
the kernel-style `<N>` priority prefix that journald reads from a unit's output (no timestamps:
journald adds its own), so no extra library is needed.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SYSLOG_PRIORITY = {  # sd-daemon(3) prefixes
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournaldFormatter(logging.Formatter):
    """`<priority>logger: message`, one line per record (continuation lines indented)."""

    def format(self, record: logging.LogRecord) -> str:
        priority = SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record).replace("\n", "\n  ")
        return f"<{priority}>{record.name}: {text}"


def make_handler(target: str, file: Path | None) -> logging.Handler:
    if target == "file":
        if file is None:
            raise ValueError("logging.file is required with target = 'file'")
        file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.WatchedFileHandler(file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
    elif target == "journald":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournaldFormatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def configure_logging(target: str, file: Path | None, verbose: bool = False) -> None:
    """Replace the root logger's handlers with the configured one."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(make_handler(target, file))
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
