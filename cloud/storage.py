"""Where reads go after the gateway: an S3 bucket, or a folder (`file://PATH`, the embedded default).

Both targets offer the same few operations, so the sync worker, evidence holds and the contract tests
are written once. A folder has no server to expire objects, so `FileTarget.sweep` applies the same
lifecycle rule that `alpr cloud init` sets on a bucket.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from botocore.config import Config as BotoConfig

from cloud import sse_c
from cloud.durable import fsync_write


class StorageError(RuntimeError):
    """The target refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: float  # Unix seconds
    md5: str  # hex, of the content
    metadata: dict[str, str] = field(default_factory=dict)  # filled by head(), not by list()


@dataclass(frozen=True)
class Lock:
    """Object Lock retention for one object: nobody deletes its version before `until`."""

    until: float  # Unix seconds
    mode: str = "COMPLIANCE"  # or GOVERNANCE (deletable with s3:BypassGovernanceRetention)


def read_key_prefix(day: str, site: str, camera: str, read_id: str) -> str:
    """Where a read's objects live: `<prefix>.jpg` (best frame) and `<prefix>.json` (metadata)."""
    return f"reads/dt={day}/site={site}/camera={camera}/{read_id}"


DT_RE = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/")


def captured_at(key: str, metadata: dict[str, str], modified: float) -> float:
    """When the read behind an object was captured: its `captured` metadata, else the start of the
    key's dt= day (never later than the capture), else the upload time."""
    try:
        return float(metadata["captured"])
    except (KeyError, ValueError):
        pass
    m = DT_RE.search(key)
    if m:
        try:
            return float(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d")))
        except ValueError:
            pass
    return modified


class Target(Protocol):
    url: str

    def put(
        self,
        key: str,
        data: bytes,
        metadata: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        lock: Lock | None = None,
    ) -> None: ...
    def head(self, key: str) -> StoredObject | None: ...
    def get(self, key: str) -> bytes: ...
    def list(self, prefix: str) -> Iterator[StoredObject]: ...
    def set_legal_hold(self, key: str, on: bool) -> None: ...
    def legal_hold(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


S3_CONFIG = BotoConfig(
    retries={"max_attempts": 5, "mode": "adaptive"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,  # at least the sync worker's upload threads: no reconnects
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)


def s3_client(
    endpoint: str | None, access_key: str | None, secret_key: str | None, region: str = "us-east-1"
) -> Any:
    """The one S3 client factory: explicit retries, timeouts and checksum behaviour."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=S3_CONFIG,
    )


class S3Target:
    """A bucket. With `sse_c_key` every object's PUT, GET and HEAD carries the SSE-C headers."""

    def __init__(self, bucket: str, client: Any, url: str, sse_c_key: bytes | None = None) -> None:
        self.bucket, self.client, self.url = bucket, client, url
        if sse_c_key is not None and len(sse_c_key) != sse_c.KEY_BYTES:
            raise StorageError(f"an SSE-C key has {sse_c.KEY_BYTES} bytes, not {len(sse_c_key)}")
        self.sse_c_key = sse_c_key
        self.sse: dict[str, str] = sse_c.request_params(sse_c_key) if sse_c_key else {}

    def _hint(self, code: object) -> str:
        """What a 400 on an object most often means once SSE-C is in play."""
        if str(code) in ("400", "InvalidArgument", "InvalidRequest"):
            if self.sse:
                return " (is the object encrypted with another SSE-C key?)"
            return " (is the object SSE-C encrypted? set [storage] encryption and sse_c_key)"
        return ""

    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kw)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise StorageError(
                f"{what} on s3://{self.bucket}: {err.get('Code')} {err.get('Message', '')}".strip()
                + (self._hint(err.get("Code")) if what in ("PutObject", "GetObject") else "")
            ) from None
        except BotoCoreError as exc:
            raise StorageError(f"{what} on s3://{self.bucket}: {exc}") from None

    def put(
        self,
        key: str,
        data: bytes,
        metadata: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        lock: Lock | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if tags:
            extra["Tagging"] = urlencode(tags)
        if lock is not None:
            extra["ObjectLockMode"] = lock.mode
            extra["ObjectLockRetainUntilDate"] = dt.datetime.fromtimestamp(lock.until, dt.UTC)
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._call(
            "PutObject",
            self.client.put_object,
            Key=key,
            Body=data,
            ContentMD5=md5,
            Metadata=metadata or {},
            **extra,
            **self.sse,
        )

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key, **self.sse)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(
                f"HeadObject on s3://{self.bucket}/{key}: {exc}{self._hint(code)}"
            ) from None
        except BotoCoreError as exc:
            raise StorageError(f"HeadObject on s3://{self.bucket}/{key}: {exc}") from None
        return StoredObject(
            key,
            int(r["ContentLength"]),
            r["LastModified"].timestamp(),
            r["ETag"].strip('"'),
            dict(r.get("Metadata", {})),
        )

    def get(self, key: str) -> bytes:
        r = self._call("GetObject", self.client.get_object, Key=key, **self.sse)
        body: bytes = r["Body"].read()
        return body

    def list(self, prefix: str) -> Iterator[StoredObject]:
        token: dict[str, str] = {}
        while True:
            page = self._call("ListObjectsV2", self.client.list_objects_v2, Prefix=prefix, **token)
            for o in page.get("Contents", []):
                yield StoredObject(
                    o["Key"], int(o["Size"]), o["LastModified"].timestamp(), o["ETag"].strip('"')
                )
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def set_legal_hold(self, key: str, on: bool) -> None:
        self._call(
            "PutObjectLegalHold",
            self.client.put_object_legal_hold,
            Key=key,
            LegalHold={"Status": "ON" if on else "OFF"},
        )

    def legal_hold(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            r = self.client.get_object_legal_hold(Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        return bool(r.get("LegalHold", {}).get("Status") == "ON")

    def delete(self, key: str) -> None:
        """Every version of the key, so that nothing of it remains (a plain DELETE only hides it)."""
        page = self._call("ListObjectVersions", self.client.list_object_versions, Prefix=key)
        versions = [
            v for v in page.get("Versions", []) + page.get("DeleteMarkers", []) if v["Key"] == key
        ]
        for v in versions:
            self._call("DeleteObject", self.client.delete_object, Key=key, VersionId=v["VersionId"])


class FileTarget:
    """Objects as files under a folder, with a JSON sidecar for metadata and legal hold."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = f"file://{self.root}"
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"unsafe object key {key!r}")
        return self.root / key

    def _meta(self, key: str) -> Path:
        p = self._path(key)
        return p.with_name(f".{p.name}.meta.json")

    def put(
        self,
        key: str,
        data: bytes,
        metadata: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        lock: Lock | None = None,
    ) -> None:
        if self.legal_hold(key):
            raise StorageError(f"{key} is under a legal hold and cannot be overwritten")
        old = self._sidecar(key)
        if old.get("lock_until", 0) > time.time():
            raise StorageError(
                f"{key} is locked until {old['lock_until']:.0f} and cannot be overwritten"
            )
        side = {"metadata": metadata or {}, "tags": tags or {}, "hold": False}
        if lock is not None:
            side["lock_until"] = lock.until
        fsync_write(self._meta(key), json.dumps(side).encode())
        fsync_write(self._path(key), data)

    def _sidecar(self, key: str) -> dict[str, Any]:
        m = self._meta(key)
        return dict(json.loads(m.read_text())) if m.exists() else {}

    def head(self, key: str) -> StoredObject | None:
        p = self._path(key)
        if not p.is_file():
            return None
        data = p.read_bytes()
        return StoredObject(
            key,
            len(data),
            p.stat().st_mtime,
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
            dict(self._sidecar(key).get("metadata", {})),
        )

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no object {key} in {self.url}") from None

    def list(self, prefix: str) -> Iterator[StoredObject]:
        base = self.root
        for dirpath, _, files in sorted(os.walk(base)):
            for name in sorted(files):
                if name.startswith("."):
                    continue
                key = str(Path(dirpath, name).relative_to(base))
                if key.startswith(prefix):
                    head = self.head(key)
                    if head:
                        yield head

    def set_legal_hold(self, key: str, on: bool) -> None:
        if not self._path(key).is_file():
            raise StorageError(f"no object {key} in {self.url}")
        meta = (
            json.loads(self._meta(key).read_text())
            if self._meta(key).exists()
            else {"metadata": {}}
        )
        meta["hold"] = on
        self._meta(key).write_text(json.dumps(meta))

    def legal_hold(self, key: str) -> bool:
        m = self._meta(key)
        return m.exists() and bool(json.loads(m.read_text()).get("hold"))

    def delete(self, key: str) -> None:
        if self.legal_hold(key):
            raise StorageError(f"{key} is under a legal hold and cannot be deleted")
        if self._sidecar(key).get("lock_until", 0) > time.time():
            raise StorageError(f"{key} is under Object Lock retention and cannot be deleted")
        self._path(key).unlink(missing_ok=True)
        self._meta(key).unlink(missing_ok=True)

    def sweep(self, prefix: str, retention_days: int, now: float | None = None) -> int:
        """What the bucket's lifecycle does, counted from capture: delete objects under prefix
        whose read was captured more than retention days ago."""
        cutoff = (now or time.time()) - retention_days * 86400
        removed = 0
        for listed in list(self.list(prefix)):
            if DT_RE.search(listed.key) and captured_at(listed.key, {}, 0.0) >= cutoff:
                continue  # its dt= day starts after the cutoff: no need to read its metadata
            obj = self.head(listed.key) or listed
            if captured_at(obj.key, obj.metadata, obj.modified) < cutoff and not self.legal_hold(
                obj.key
            ):
                self.delete(obj.key)
                removed += 1
        return removed


def open_target(
    url: str,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str = "us-east-1",
    base: Path | None = None,
    sse_c_key: bytes | None = None,
) -> Target:
    """file://PATH (relative to base) or s3://BUCKET (with an endpoint for a non-AWS server);
    `sse_c_key` (32 bytes) encrypts a bucket's objects with SSE-C."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if sse_c_key is not None:
            raise StorageError(f"SSE-C applies to s3:// targets only, not to {url}")
        path = Path(parts.netloc + parts.path)
        return FileTarget(path if path.is_absolute() or base is None else base / path)
    if parts.scheme == "s3" and parts.netloc:
        client = s3_client(endpoint, access_key, secret_key, region)
        return S3Target(parts.netloc, client, url, sse_c_key)
    raise StorageError(f"storage target must be file://PATH or s3://BUCKET, got {url!r}")
