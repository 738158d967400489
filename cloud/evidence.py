"""Evidence: a read copied out of retention under a legal hold, with its chain of custody.

`hold` copies a read's objects to `evidence/<case>/<read-id>/` and puts a legal hold on each copy,
so no lifecycle rule deletes them. Every action (hold, release, export) is written as its own small
object under `custody/<case>/`, never rewritten, so the chain of custody is append-only; no
lifecycle rule covers that prefix, so the record outlives the evidence it describes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

from cloud.storage import StorageError, Target

CASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_case(case: str) -> None:
    if not CASE_RE.match(case):
        raise StorageError(
            f"case number {case!r}: use letters, digits, '.', '_' and '-' (at most 64)"
        )


def find_read(target: Target, read_id: str) -> list[str]:
    """The keys of a read's objects under reads/ (frame, plate crop, metadata)."""
    keys = [
        o.key
        for o in target.list("reads/")
        if Path(o.key).name.startswith(read_id) and not o.key.endswith(".ndjson")
    ]
    if not any(k.endswith(f"{read_id}.json") for k in keys):
        raise StorageError(
            f"read {read_id} is not in {target.url} (never synced, or already expired)"
        )
    return sorted(keys)


def record(
    target: Target, case: str, action: str, user: str, reason: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """Append one custody event as its own object."""
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
    target.put(f"custody/{case}/{stamp}-{action}.json", json.dumps(event, sort_keys=True).encode())
    return event


def hold(target: Target, read_id: str, case: str, user: str, reason: str) -> list[str]:
    """Copy the read under evidence/<case>/ with a legal hold on every copy; returns the new keys."""
    check_case(case)
    if not user.strip() or not reason.strip():
        raise StorageError("a hold needs the user who places it and a reason")
    copied = []
    for key in find_read(target, read_id):
        dest = f"evidence/{case}/{read_id}/{Path(key).name}"
        data = target.get(key)
        if target.head(dest) is None:
            target.put(dest, data, {"source-key": key, "sha256": hashlib.sha256(data).hexdigest()})
        target.set_legal_hold(dest, True)
        copied.append(dest)
    record(target, case, "hold", user, reason, {"read": read_id, "objects": copied})
    return copied


def case_objects(target: Target, case: str) -> list[str]:
    check_case(case)
    return sorted(o.key for o in target.list(f"evidence/{case}/"))


def release(
    target: Target, case: str, user: str, reason: str, read_id: str | None = None
) -> list[str]:
    """Lift the legal holds of a case (or of one read in it) and delete those copies for good.

    The originals under reads/ follow their own retention; the custody record stays.
    """
    if not user.strip() or not reason.strip():
        raise StorageError("a release needs the user who authorises it and a reason")
    keys = [k for k in case_objects(target, case) if read_id is None or f"/{read_id}/" in k]
    if not keys:
        raise StorageError(
            f"no evidence held for case {case}" + (f" and read {read_id}" if read_id else "")
        )
    for key in keys:
        target.set_legal_hold(key, False)
        target.delete(key)
    record(target, case, "release", user, reason, {"read": read_id, "objects": keys})
    return keys


def custody(target: Target, case: str) -> list[dict[str, Any]]:
    events = [json.loads(target.get(o.key)) for o in target.list(f"custody/{case}/")]
    return sorted(events, key=lambda e: e["at"])


def export(target: Target, case: str, out: Path, user: str, reason: str) -> Path:
    """Write the case's files, a manifest with the SHA-256 of each, and the chain of custody."""
    keys = case_objects(target, case)
    if not keys:
        raise StorageError(f"no evidence held for case {case}")
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for key in keys:
        data = target.get(key)
        rel = Path(key).relative_to(f"evidence/{case}")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        manifest.append(
            {
                "file": str(rel),
                "key": key,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "legal_hold": target.legal_hold(key),
            }
        )
    record(target, case, "export", user, reason, {"files": len(manifest), "to": str(out)})
    (out / "manifest.json").write_text(json.dumps({"case": case, "files": manifest}, indent=2))
    (out / "custody.json").write_text(json.dumps(custody(target, case), indent=2))
    return out / "manifest.json"
