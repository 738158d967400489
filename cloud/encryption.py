"""What `alpr cloud check` says about encryption: the configured setting, and whether the oldest
object under each prefix the product writes carries it (objects keep the encryption they were
written with, so turning SSE-C on later leaves older objects in plain text until they expire)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloud import sse_c
from cloud.storage import S3Target, StorageError

if TYPE_CHECKING:
    from cloud.bucket import BucketReport

# where the product writes objects (reads and their index, evidence copies, custody, audit heads)
PREFIXES = ("reads/", "evidence/", "custody/", "audit/heads/")


def describe(target: S3Target) -> str:
    """The setting in words; the key's MD5 names which key without revealing it."""
    if target.sse_c_key is None:
        return 'encryption: none requested by the gateway (storage.encryption = "none")'
    return (
        f"encryption: SSE-C ({sse_c.ALGORITHM}) on every object, key MD5 "
        f"{sse_c.key_md5(target.sse_c_key)}"
    )


def check(target: S3Target, report: BucketReport) -> None:
    """Report the setting, then HEAD the first object under each prefix with it."""
    from botocore.exceptions import BotoCoreError, ClientError

    report.done.append(describe(target))
    for prefix in PREFIXES:
        try:
            first = next(iter(target.list(prefix)), None)
        except StorageError as exc:  # a role without list rights on this prefix
            report.unsupported.append(f"encryption under {prefix}: not checked ({exc})")
            continue
        if first is None:
            continue
        try:
            head = target.client.head_object(Bucket=target.bucket, Key=first.key, **target.sse)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in ("403", "AccessDenied"):
                report.unsupported.append(
                    f"encryption of {first.key}: not checked, these keys may not read it ({code})"
                )
            elif code in ("400", "InvalidArgument", "InvalidRequest") and target.sse:
                report.drift.append(
                    f"{first.key} cannot be read with the configured SSE-C key ({code}): it was "
                    "written with another key"
                )
            elif code in ("400", "InvalidArgument", "InvalidRequest"):
                report.drift.append(
                    f"{first.key} is SSE-C encrypted ({code} without a key) but "
                    'storage.encryption is not "sse-c"'
                )
            else:
                report.drift.append(f"{first.key}: HEAD failed ({code})")
            continue
        except BotoCoreError as exc:
            report.drift.append(f"{first.key}: HEAD failed ({exc})")
            continue
        if target.sse and head.get("SSECustomerAlgorithm") != sse_c.ALGORITHM:
            report.drift.append(
                f"{first.key} is stored without SSE-C (written before encryption was turned on, "
                "or by another writer); it stays so until it expires"
            )
