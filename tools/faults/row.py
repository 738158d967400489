"""One row of the fault matrix, and the table that `alpr faults` prints.

A scenario is a function `run(size) -> Row`: it injects one kind of fault into real parts (the Ceph
RGW, SQLite, HTTP on loopback), lets the gateway recover, then counts what was lost and what was
duplicated by looking at where the data ended up, not at what the gateway says about it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Size = Literal["short", "full"]


@dataclass
class Row:
    name: str
    injected: int  # how many faults were injected
    acknowledged: int  # items the gateway said were safe (stored, synced)
    lost: int  # acknowledged items missing or with wrong bytes at the end
    duplicated: int  # items stored more than once
    recovery_s: float  # from the end of the faults until the gateway was whole again
    notes: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Scenario = Callable[[Size], Row]


def markdown(rows: list[Row]) -> str:
    """The table for the README: one line per fault."""
    head = "| fault | injected | acknowledged | lost | duplicated | recovery (s) | notes |"
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.injected} | {r.acknowledged} | {r.lost} | {r.duplicated}"
            f" | {r.recovery_s:.1f} | {r.notes.replace('|', '/')} |"
        )
    return "\n".join(lines)
