"""Against a real Ceph RGW (tools/s3-local): the S3 features the evidence store relies on.

The session's server (tests/conftest.py; starting one takes ~15 s).  The lifecycle "day" is
shortened to LC_DAY_S seconds with `rgw lc debug interval`, so expiry is observable in
about a minute.  The module skips when Ceph cannot be installed or started here (set
S3_LOCAL_REQUIRED=1 to make that a failure instead, e.g. on a CI runner that has Ceph).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from s3local import (
    S3Info,
    s3_client,
    start_rgw,
    stop_rgw,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LC_DAY_S = 10  # one lifecycle "day", in seconds
LC_WAIT_S = 120  # how long to wait for something a lifecycle pass should do


class Server:
    def __init__(self, data_dir: Path, info: S3Info) -> None:
        self.data_dir = data_dir
        self.info = info


@pytest.fixture(scope="module")
def server(rgw: dict[str, str]) -> Server:
    """The session's server (tests/conftest.py), which starts the same way with the same
    lifecycle day: a second one would cost another start for nothing this module needs."""
    assert int(rgw["lc_day_s"]) == LC_DAY_S
    info = S3Info(
        endpoint=rgw["endpoint"],
        access_key=rgw["access_key"],
        secret_key=rgw["secret_key"],
        region=rgw["region"],
    )
    return Server(Path(rgw["data_dir"]), info)


@pytest.fixture(scope="module")
def s3(server: Server) -> S3Client:
    return s3_client(server.info)


@pytest.fixture(scope="module")
def bucket(s3: S3Client) -> str:
    """A bucket made the way the evidence store needs it: Object Lock on, hence versioned."""
    name = "evidence-lock"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def wait_until(what: str, check: Callable[[], bool], timeout: float = LC_WAIT_S) -> float:
    """Poll (a HEAD or a listing twice a second costs little) and return the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.5)
    return time.monotonic() - start


def versions(s3: S3Client, bucket: str, key: str) -> list[dict[str, Any]]:
    """Object versions (not delete markers) of exactly ``key``."""
    out = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [dict(v) for v in out.get("Versions", []) if v["Key"] == key]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def test_bucket_has_object_lock_and_versioning(s3: S3Client, bucket: str) -> None:
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"


def test_put_get_with_content_md5(s3: S3Client, bucket: str) -> None:
    body = os.urandom(4096)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5/ok.bin", Body=body, ContentMD5=md5)
    assert s3.get_object(Bucket=bucket, Key="md5/ok.bin")["Body"].read() == body
    # The server really checks it: a wrong digest is refused.
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="md5/bad.bin", Body=body, ContentMD5=wrong)
    assert error_code(err.value) == "BadDigest"


def test_put_get_with_checksum_sha256(s3: S3Client, bucket: str) -> None:
    # RGW 16.2 accepts x-amz-checksum-sha256 but neither checks nor stores it (see
    # cloud/RGW-vs-AWS.md); the request still must succeed and round-trip the bytes.
    body = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key="sha/ok.bin", Body=body, ChecksumAlgorithm="SHA256")
    assert s3.get_object(Bucket=bucket, Key="sha/ok.bin")["Body"].read() == body


def test_retention_governance_and_compliance(s3: S3Client, bucket: str) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    gov = s3.put_object(
        Bucket=bucket,
        Key="lock/governance.txt",
        Body=b"g",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    with pytest.raises(ClientError) as err:
        s3.delete_object(Bucket=bucket, Key="lock/governance.txt", VersionId=gov)
    assert error_code(err.value) == "AccessDenied"
    # Governance can be bypassed by someone allowed to (here: the bucket owner).
    s3.delete_object(
        Bucket=bucket, Key="lock/governance.txt", VersionId=gov, BypassGovernanceRetention=True
    )

    comp = s3.put_object(
        Bucket=bucket,
        Key="lock/compliance.txt",
        Body=b"c",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    with pytest.raises(ClientError) as err:
        s3.delete_object(
            Bucket=bucket,
            Key="lock/compliance.txt",
            VersionId=comp,
            BypassGovernanceRetention=True,
        )
    assert error_code(err.value) == "AccessDenied"
    retention = s3.get_object_retention(Bucket=bucket, Key="lock/compliance.txt", VersionId=comp)
    assert retention["Retention"]["Mode"] == "COMPLIANCE"


def test_sse_c_round_trip(s3: S3Client) -> None:
    # Plain HTTP works only because s3-local sets `rgw crypt require ssl = false`.
    s3.create_bucket(Bucket="sse-c")
    key = secrets.token_hex(16)  # 32 bytes, as AES256 wants
    s3.put_object(
        Bucket="sse-c",
        Key="secret.bin",
        Body=b"customer-encrypted",
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=key,
    )
    got = s3.get_object(
        Bucket="sse-c", Key="secret.bin", SSECustomerAlgorithm="AES256", SSECustomerKey=key
    )
    assert got["Body"].read() == b"customer-encrypted"
    with pytest.raises(ClientError):  # without the key the object cannot be read
        s3.get_object(Bucket="sse-c", Key="secret.bin")


def test_lifecycle_expires_reads_but_not_legal_hold(s3: S3Client, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "reads-1-day",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "reads/"},
                    "Expiration": {"Days": 1},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == ["reads-1-day"]

    held_body = os.urandom(2048)
    s3.put_object(Bucket=bucket, Key="reads/plain.txt", Body=b"expires")
    held = s3.put_object(Bucket=bucket, Key="reads/held.bin", Body=held_body)["VersionId"]
    s3.put_object_legal_hold(
        Bucket=bucket, Key="reads/held.bin", VersionId=held, LegalHold={"Status": "ON"}
    )
    s3.put_object(Bucket=bucket, Key="keep/other.txt", Body=b"outside the prefix")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="reads/upload.bin")["UploadId"]
    s3.upload_part(
        Bucket=bucket, Key="reads/upload.bin", UploadId=upload, PartNumber=1, Body=b"x" * 1024
    )

    def plain_gone() -> bool:
        try:
            s3.head_object(Bucket=bucket, Key="reads/plain.txt")
        except ClientError as exc:
            return error_code(exc) in {"404", "NoSuchKey"}
        return False

    # Expiration: the current version is hidden behind a delete marker...
    wait_until("reads/plain.txt expired by lifecycle", plain_gone)
    # ...NoncurrentVersionExpiration then frees the old version itself...
    wait_until(
        "noncurrent version of reads/plain.txt removed",
        lambda: not versions(s3, bucket, "reads/plain.txt"),
    )
    # ...and AbortIncompleteMultipartUpload drops the unfinished upload.
    wait_until(
        "incomplete multipart upload aborted",
        lambda: not s3.list_multipart_uploads(Bucket=bucket, Prefix="reads/").get("Uploads"),
    )
    # Give lifecycle two more passes at the held version, which is noncurrent by now.
    time.sleep(2 * LC_DAY_S + 2)
    assert [v["VersionId"] for v in versions(s3, bucket, "reads/held.bin")] == [held]
    got = s3.get_object(Bucket=bucket, Key="reads/held.bin", VersionId=held)
    assert got["Body"].read() == held_body
    assert s3.head_object(Bucket=bucket, Key="keep/other.txt")["ContentLength"] == 18

    # A direct DELETE of the held version is refused and changes nothing.
    with pytest.raises(ClientError) as err:
        s3.delete_object(Bucket=bucket, Key="reads/held.bin", VersionId=held)
    assert error_code(err.value) == "AccessDenied"
    got = s3.get_object(Bucket=bucket, Key="reads/held.bin", VersionId=held)
    assert got["Body"].read() == held_body

    # Released, it can go.
    s3.put_object_legal_hold(
        Bucket=bucket, Key="reads/held.bin", VersionId=held, LegalHold={"Status": "OFF"}
    )
    s3.delete_object(Bucket=bucket, Key="reads/held.bin", VersionId=held)
    assert versions(s3, bucket, "reads/held.bin") == []


def test_client_errors_while_gateway_is_down_then_recovers(server: Server, bucket: str) -> None:
    s3 = s3_client(server.info)
    s3.put_object(Bucket=bucket, Key="restart/kept.txt", Body=b"survives a restart")
    impatient = s3_client(server.info, max_attempts=1)
    stop_rgw(server.data_dir)
    try:
        with pytest.raises(EndpointConnectionError) as err:
            impatient.head_object(Bucket=bucket, Key="restart/kept.txt")
        assert server.info["endpoint"] in str(err.value)
    finally:
        start_rgw(server.data_dir)
    got = s3.get_object(Bucket=bucket, Key="restart/kept.txt")
    assert got["Body"].read() == b"survives a restart"
    s3.put_object(Bucket=bucket, Key="restart/after.txt", Body=b"writes work again")
    assert s3.head_object(Bucket=bucket, Key="restart/after.txt")["ContentLength"] == 17
