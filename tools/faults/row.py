"""One row of the fault matrix, and the table that `alpr faults` prints.

A scenario is a function `run(size, env) -> Row`: it injects one kind of fault into real parts (the Ceph
RGW, SQLite, HTTP on loopback), lets the gateway recover, then counts what was lost and what was
duplicated by looking at where the data ended up, not at what the gateway says about it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Size = Literal["short", "full"]


class RowUnavailable(RuntimeError):
    """A row cannot run on this machine (a tool it needs is missing); the message names it."""


@dataclass
class Row:
    name: str
    injected: int  # how many faults were injected
    acknowledged: int  # items the gateway said were safe (stored, synced)
    lost: int  # acknowledged items missing or with wrong bytes at the end
    duplicated: int  # items stored more than once
    recovery_s: float  # from the end of the faults until the gateway was whole again
    notes: str = ""
    # anything else the row measured; a nonzero detail["failures"] fails the row like a loss (e.g.
    # capture times stored hours off, events left queued on the camera)
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Env:
    """What the scenarios share: an S3 server already running (tools/s3-local's data folder), or
    None to start a fresh one for each scenario that needs one."""

    rgw_data: Path | None = None

    @contextmanager
    def rgw(self, scratch: Path) -> Iterator[dict[str, str]]:
        """Endpoint and keys of a local Ceph RGW."""
        if self.rgw_data is not None:
            yield {
                k: str(v) for k, v in json.loads((self.rgw_data / "s3.json").read_text()).items()
            }
            return
        from tools.faults.rgw import local_rgw

        with local_rgw(scratch / "rgw") as info:
            yield info


Scenario = Callable[[Size, Env], Row]


def markdown(rows: list[Row]) -> str:
    """The table for the README: one line per fault."""
    head = "| fault | injected | acknowledged | lost | duplicated | recovery (s) | notes |"
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(
            f"| {r.name.replace('|', '/')} | {r.injected} | {r.acknowledged} | {r.lost} | {r.duplicated}"
            f" | {r.recovery_s:.1f} | {r.notes.replace('|', '/')} |"
        )
    return "\n".join(lines)
