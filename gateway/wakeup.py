"""A wake-up call between threads: the writer signals after its commit, waiting threads return at once.

A generation counter instead of a flag, so that a signal given between a waiter's last look at the
store and its wait is not lost: the waiter passes the generation it saw before looking.
"""

from __future__ import annotations

import threading


class Wakeup:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    def generation(self) -> int:
        with self._cond:
            return self._generation

    def notify(self) -> None:
        """Wake every waiter; called after the change it announces is committed."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout_s: float) -> bool:
        """Wait until a notify after generation `seen`, or the timeout; True if woken by a notify."""
        with self._cond:
            return self._cond.wait_for(lambda: self._generation != seen, timeout_s)
