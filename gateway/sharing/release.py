"""Fulfil an approved share: build the package, then record the release and its dissemination log
line in one transaction (the package is removed again if that fails)."""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.access import audit
from gateway.access.db import AccessDB
from gateway.config import SharingAgency
from gateway.sharing import export, requests
from gateway.store import Store


def fulfil(
    db: AccessDB,
    store: Store,
    share_id: int,
    by: str,
    out: Path,
    agencies: list[SharingAgency],
    agency_name: str,
    source: str,
    destination: str | None = None,
) -> export.Package:
    """Export an approved request's reads to `out`; a refusal is itself in the audit log.
    `destination` is what the log records as where it went (default: the folder `out`)."""
    row = requests.get(db, share_id)
    try:
        requests.releasable(row, agencies)
    except requests.ShareError as exc:
        audit.append(
            db, by, "share release refused", kind="denied",
            what={"share": share_id, "agency": row["agency"]}, why=str(exc), source=source,
        )  # fmt: skip
        raise
    cover = {"agency_name": agency_name, "mou": requests.mou_text(row), "released_by": by}
    pkg = export.build(store, row, out, cover)
    try:
        with requests.transaction(db) as conn:
            requests.record_release(
                conn, row, by, destination or str(out.resolve()), pkg.reads, len(pkg.files),
                pkg.manifest_sha256, source,
            )  # fmt: skip
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return pkg
