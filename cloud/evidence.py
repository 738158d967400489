"""Evidence: a read copied out of retention under a legal hold, with its chain of custody.

`hold` copies a read's objects to `evidence/<case>/<read-id>/` and puts a legal hold on each copy,
so no lifecycle rule deletes them. The read is named by its full id and found by its exact keys
(HEAD, never a listing of reads/). Every action (hold, release, export) is written as its own small
object under `custody/<case>/`, never rewritten and under Object Lock retention (COMPLIANCE: nobody
deletes it before the audit period ends); no lifecycle rule covers that prefix, so the record
outlives the evidence it describes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

from cloud.storage import Lock, StorageError, Target

CASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CUSTODY_DAYS = 1095  # the audit period: custody records are locked this long (3 years)


def check_case(case: str) -> None:
    if not CASE_RE.match(case) or ".." in case:
        raise StorageError(
            f"case number {case!r}: use letters, digits, '.', '_' and '-' (at most 64)"
        )


def check_read_id(read_id: str) -> None:
    """Only a full read id names one read: a prefix or an empty string would name many."""
    try:
        ok = str(uuid.UUID(read_id)) == read_id
    except ValueError:
        ok = False
    if not ok:
        raise StorageError(
            f"read id {read_id!r} is not a full read id (36 characters, like "
            "6f1d3c2e-55a4-4bb4-9a53-0c2f3d1e9b7a); short or partial ids are refused"
        )


def find_read(target: Target, read_id: str, prefix: str) -> list[str]:
    """The keys of a read's objects (frame, metadata with the plate crop), checked by HEAD."""
    check_read_id(read_id)
    if not prefix.startswith("reads/dt=") or not prefix.endswith(f"/{read_id}"):
        raise StorageError(f"{prefix!r} is not the key prefix of read {read_id}")
    keys = [k for k in (f"{prefix}.jpg", f"{prefix}.json") if target.head(k) is not None]
    if f"{prefix}.json" not in keys:
        raise StorageError(
            f"read {read_id} is not in {target.url} at {prefix}.json (already expired, "
            "or not synced yet)"
        )
    return keys


def record(
    target: Target,
    case: str,
    action: str,
    user: str,
    reason: str,
    extra: dict[str, Any],
    custody_days: int = CUSTODY_DAYS,
) -> dict[str, Any]:
    """Append one custody event as its own object, locked for the audit period."""
    event = {
        "case": case,
        "action": action,
        "user": user,
        "reason": reason,
        "at": time.time(),
        "at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    stamp = f"{event['at']:.6f}".replace(".", "")
    target.put(
        f"custody/{case}/{stamp}-{action}.json",
        json.dumps(event, sort_keys=True).encode(),
        lock=Lock(event["at"] + custody_days * 86400),
    )
    return event


def hold(
    target: Target,
    read_id: str,
    prefix: str,
    case: str,
    user: str,
    reason: str,
    custody_days: int = CUSTODY_DAYS,
) -> list[str]:
    """Copy the read under evidence/<case>/ with a legal hold on every copy; returns the new keys."""
    check_case(case)
    if not user.strip() or not reason.strip():
        raise StorageError("a hold needs the user who places it and a reason")
    copied = []
    for key in find_read(target, read_id, prefix):
        dest = f"evidence/{case}/{read_id}/{Path(key).name}"
        data = target.get(key)
        if target.head(dest) is None:
            target.put(dest, data, {"source-key": key, "sha256": hashlib.sha256(data).hexdigest()})
        target.set_legal_hold(dest, True)
        copied.append(dest)
    record(target, case, "hold", user, reason, {"read": read_id, "objects": copied}, custody_days)
    return copied


def case_objects(target: Target, case: str) -> list[str]:
    check_case(case)
    return sorted(o.key for o in target.list(f"evidence/{case}/"))


def release(
    target: Target,
    case: str,
    user: str,
    reason: str,
    read_id: str | None = None,
    custody_days: int = CUSTODY_DAYS,
) -> list[str]:
    """Lift the legal holds of a case (or of one read in it) and delete those copies for good.

    The originals under reads/ follow their own retention; the custody record stays.
    """
    if not user.strip() or not reason.strip():
        raise StorageError("a release needs the user who authorises it and a reason")
    if read_id is not None:
        check_read_id(read_id)
    keys = [
        k
        for k in case_objects(target, case)
        if read_id is None or k.startswith(f"evidence/{case}/{read_id}/")
    ]
    if not keys:
        raise StorageError(
            f"no evidence held for case {case}" + (f" and read {read_id}" if read_id else "")
        )
    for key in keys:
        target.set_legal_hold(key, False)
        target.delete(key)
    record(target, case, "release", user, reason, {"read": read_id, "objects": keys}, custody_days)
    return keys


def custody(target: Target, case: str) -> list[dict[str, Any]]:
    check_case(case)
    events = [json.loads(target.get(o.key)) for o in target.list(f"custody/{case}/")]
    return sorted(events, key=lambda e: e["at"])


def inside(out: Path, rel: str) -> Path:
    """out/rel, refused unless it stays inside out (no absolute path, no `..`, no link out)."""
    parts = Path(rel).parts
    if not rel or Path(rel).is_absolute() or ".." in parts:
        raise StorageError(f"object path {rel!r} would leave the export folder {out}")
    path = out / rel
    if not path.resolve().is_relative_to(out.resolve()):
        raise StorageError(f"object path {rel!r} would leave the export folder {out}")
    return path


def export(
    target: Target,
    case: str,
    out: Path,
    user: str,
    reason: str,
    custody_days: int = CUSTODY_DAYS,
) -> Path:
    """Write the case's files, a manifest with the SHA-256 of each, and the chain of custody."""
    keys = case_objects(target, case)
    if not keys:
        raise StorageError(f"no evidence held for case {case}")
    out.mkdir(parents=True, exist_ok=True)
    base = f"evidence/{case}/"
    files = [(key, inside(out, key.removeprefix(base))) for key in keys]  # all checked first
    manifest = []
    for key, dest in files:
        data = target.get(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        manifest.append(
            {
                "file": str(dest.relative_to(out)),
                "key": key,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "legal_hold": target.legal_hold(key),
            }
        )
    record(
        target,
        case,
        "export",
        user,
        reason,
        {"files": len(manifest), "to": str(out)},
        custody_days,
    )
    (out / "manifest.json").write_text(json.dumps({"case": case, "files": manifest}, indent=2))
    (out / "custody.json").write_text(json.dumps(custody(target, case), indent=2))
    return out / "manifest.json"
