"""The release package of an approved share: the matching reads (best frame, plate crop, JSON), a
SHA-256 manifest, a `sha256sum -c` file and a printable cover sheet.

It is built in a sibling folder and renamed into place, so a failed export leaves no half package;
a stored file that no longer matches its recorded SHA-256 is left out and listed, never released
as good.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from cloud.durable import fsync_write
from gateway import site_status
from gateway.sharing.requests import Query
from gateway.store import Store

READ_FIELDS = (
    "id", "camera", "site", "lat", "lon", "heading", "captured", "text", "confidence",
)  # fmt: skip


@dataclass
class Package:
    out: Path
    reads: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)  # path, sha256, bytes
    left_out: list[dict[str, str]] = field(default_factory=list)  # read, reason
    manifest_sha256: str = ""


def matching_reads(store: Store, q: Query) -> list[dict[str, Any]]:
    """The reads a request asks for, oldest first."""
    sql, args = "SELECT * FROM reads WHERE 1=1", list[object]()
    if q.plates:
        sql += " AND (" + " OR ".join("text GLOB ?" for _ in q.plates) + ")"
        args.extend(p.strip().upper() for p in q.plates)
    if q.since is not None:
        sql += " AND captured >= ?"
        args.append(q.since)
    if q.until is not None:
        sql += " AND captured < ?"
        args.append(q.until)
    if q.sites:
        sql += f" AND site IN ({','.join('?' * len(q.sites))})"
        args.extend(q.sites)
    return [dict(r) for r in store.connect().execute(sql + " ORDER BY captured, id", args)]


def utc(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t))


def _add(pkg: Package, staging: Path, rel: str, data: bytes) -> None:
    fsync_write(staging / rel, data)
    pkg.files.append({"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})


def _read_files(store: Store, read: dict[str, Any]) -> tuple[bytes, bytes] | str:
    """The read's frame and crop, or why they cannot be released."""
    if read.get("quarantined"):
        return f"quarantined: {read['quarantined']}"
    out = []
    for rel, digest in ((read["frame_path"], read["frame_sha256"]),
                        (read["crop_path"], read["crop_sha256"])):  # fmt: skip
        try:
            data = (store.root / rel).read_bytes()
        except OSError as exc:
            return f"{Path(rel).name}: cannot be read ({exc.strerror})"
        if hashlib.sha256(data).hexdigest() != digest:
            return f"{Path(rel).name}: does not match its recorded SHA-256"
        out.append(data)
    return out[0], out[1]


def build(store: Store, share: dict[str, Any], out: Path, cover: dict[str, Any]) -> Package:
    """Write the package to `out` (which must not exist or be empty)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder")
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    pkg = Package(out)
    try:
        for read in matching_reads(store, Query.from_json(share["query"])):
            files = _read_files(store, read)
            if isinstance(files, str):
                pkg.left_out.append({"read": read["id"], "reason": files})
                continue
            meta = {k: read[k] for k in READ_FIELDS}
            meta["captured_utc"] = utc(read["captured"])
            meta["alternates"] = json.loads(read["alternates"])
            meta["box"] = json.loads(read["box"])
            meta["site_status"] = site_status.read_status(store, read["id"]) or "installed"
            base = f"reads/{read['id']}"
            _add(pkg, staging, f"{base}.jpg", files[0])
            _add(pkg, staging, f"{base}-plate.jpg", files[1])
            _add(pkg, staging, f"{base}.json", json.dumps(meta, indent=2).encode())
            pkg.reads += 1
        manifest = {
            "share": share["id"], "agency": share["agency"], "case_number": share["case_number"],
            "generated": utc(time.time()), "reads": pkg.reads, "files": pkg.files,
            "left_out": pkg.left_out,
        }  # fmt: skip
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        fsync_write(staging / "manifest.json", data)
        pkg.manifest_sha256 = hashlib.sha256(data).hexdigest()
        sums = "".join(f"{f['sha256']}  {f['path']}\n" for f in pkg.files)
        fsync_write(
            staging / "SHA256SUMS", (sums + f"{pkg.manifest_sha256}  manifest.json\n").encode()
        )
        fsync_write(staging / "cover.html", render_cover(share, pkg, cover).encode())
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return pkg


def render_cover(share: dict[str, Any], pkg: Package, extra: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.sharing", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    q = Query.from_json(share["query"])
    query = {
        "plates": ", ".join(q.plates) or "any",
        "from": utc(q.since) if q.since is not None else "any time",
        "to": utc(q.until) if q.until is not None else "any time",
        "sites": ", ".join(q.sites) or "all sites",
    }
    return env.get_template("cover.html").render(
        share=share, pkg=pkg, query=query, generated=utc(time.time()), **extra
    )
