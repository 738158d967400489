"""Find a read's exact keys for `alpr evidence hold`, uploading it first if it is not synced yet.

The key follows from the read's capture date, site and camera; the gateway store has them while it
keeps the read. After the local purge they come from the command line (a search result shows them).
"""

from __future__ import annotations

import re
import time

from cloud import evidence
from cloud.storage import StorageError, Target, read_key_prefix
from gateway.config import Config
from gateway.store import Store
from gateway.sync import Syncer, read_prefix

PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def locate(
    config: Config,
    store: Store,
    target: Target,
    read_id: str,
    day: str | None = None,
    site: str | None = None,
    camera: str | None = None,
) -> str:
    """The read's key prefix; a read the gateway still holds but never synced is uploaded now."""
    evidence.check_read_id(read_id)
    row = store.connect().execute("SELECT * FROM reads WHERE id=?", (read_id,)).fetchone()
    if row is None:
        if not (day and site and camera):
            raise StorageError(
                f"read {read_id} is not in the gateway store (purged locally); give its capture "
                "date, site and camera: --date YYYY-MM-DD --site S --camera C"
            )
        try:
            time.strptime(day, "%Y-%m-%d")
        except ValueError:
            raise StorageError(f"--date {day!r}: expected YYYY-MM-DD") from None
        for name, value in (("site", site), ("camera", camera)):
            if not PART_RE.match(value):
                raise StorageError(f"--{name} {value!r}: not a {name} id")
        return read_key_prefix(day, site, camera, read_id)
    if row["quarantined"]:
        raise StorageError(f"read {read_id} is quarantined ({row['quarantined']}): not uploaded")
    if row["synced_at"] is None:
        # The regular sync will HEAD these keys and not send them again.
        store.connect().execute("UPDATE reads SET sync_tried=1 WHERE id=?", (read_id,))
        if Syncer(config, store, target, uploads=1).upload(row) is None:
            raise StorageError(f"read {read_id}: local copy failed its check and was quarantined")
    return read_prefix(row)


def hold_read(
    config: Config,
    store: Store,
    target: Target,
    read_id: str,
    case: str,
    user: str,
    reason: str,
    custody_days: int = evidence.CUSTODY_DAYS,
    day: str | None = None,
    site: str | None = None,
    camera: str | None = None,
) -> list[str]:
    prefix = locate(config, store, target, read_id, day, site, camera)
    return evidence.hold(target, read_id, prefix, case, user, reason, custody_days)
