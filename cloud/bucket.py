"""The bucket's own rules: versioning, Object Lock, lifecycle, public access, encryption, policy.

`init` sets what the config asks for and is safe to run again; `check` compares the live bucket
with the config and names each difference; `verify_retention` lists reads kept too long.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from cloud import encryption
from cloud.storage import FileTarget, S3Target, StorageError, Target, captured_at

NONCURRENT_DAYS = 1
ABORT_MULTIPART_DAYS = 1
LIFE_TAG = "alpr-life"
AUDIT_HEADS = "audit/heads/"  # the gateway's daily audit heads: locked, under no lifecycle rule
LIFE_GROWTH = 1.6  # each remaining-life value with a rule is ~1.6 times the one before
DAY_S = 86400.0


def life_values(retention_days: int) -> list[int]:
    """The remaining-life tag values that have a lifecycle rule: 1, 2, 3, 5, 8, 13, 21, ... and
    the retention itself.

    Few on purpose: Ceph RGW 16.2 lists the bucket once per rule on every lifecycle pass, so one
    rule per day of retention multiplies that work by the retention (with a 10 s test "day",
    31 rules already starved other buckets' lifecycle). A read sent promptly gets exactly the
    retention; one sent late loses at most about a third of its remaining life, never outlives it.
    """
    values, v = [], 1
    while v < retention_days:
        values.append(v)
        v = max(v + 1, round(v * LIFE_GROWTH))
    return [*values, retention_days]


def life_days(retention_days: int, captured: float, now: float) -> int | None:
    """Days an object uploaded now may live so that it is gone by capture + retention (+ under a
    day): the remaining life rounded up, then down to the nearest value that has a rule; None
    when the read is already past retention and must not be uploaded at all."""
    remaining = retention_days - (now - captured) / DAY_S
    if remaining <= 0:
        return None
    wanted = math.ceil(remaining)
    return max([v for v in life_values(retention_days) if v <= wanted], default=1)


def lifecycle_rules(retention_days: int) -> list[dict[str, Any]]:
    """Every rule is scoped by prefix; custody/ and audit/ have none, so the chain of custody and
    the audit heads are never expired.

    reads/ objects carry an `alpr-life=N` tag (their remaining life at upload), and one rule per N
    expires them N days after upload, so a read synced late still goes at capture + retention. An
    untagged object under reads/ falls under the plain retention rule. evidence/ has no expiry:
    held copies stay current and visible until a release deletes them.
    """
    rules: list[dict[str, Any]] = [
        {
            "ID": "reads-retention",
            "Status": "Enabled",
            "Filter": {"Prefix": "reads/"},
            "Expiration": {"Days": retention_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
        },
        {  # the search index; a compacted day is rewritten within a day, hence one day more
            "ID": "index-retention",
            "Status": "Enabled",
            "Filter": {"Prefix": "index/"},
            "Expiration": {"Days": retention_days + 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
        },
        {
            "ID": "evidence-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": "evidence/"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
        },
    ]
    for n in life_values(retention_days):
        if n == retention_days:
            continue  # the plain rule already says so
        rules.append(
            {
                "ID": f"reads-life-{n}",
                "Status": "Enabled",
                "Filter": {
                    "And": {"Prefix": "reads/", "Tags": [{"Key": LIFE_TAG, "Value": str(n)}]}
                },
                "Expiration": {"Days": n},
            }
        )
    return rules


def bucket_policy(bucket: str, gateway: str | None, evidence: str | None = None) -> dict[str, Any]:
    """Least privilege for each role.

    The gateway writes and reads back reads/ and index/ (deleting only merged index parts) and
    never holds, or reads evidence/ or custody/; the one retention it sets is on its daily audit
    heads (audit/heads/: written once, read back, never deleted; COMPLIANCE retention can only be
    lengthened). The evidence role copies reads into evidence/, sets and lifts legal holds, writes
    custody/ records under Object Lock retention, and deletes released evidence.
    """
    statements: list[dict[str, Any]] = []
    if gateway:
        who = {"AWS": [gateway]}
        statements += [
            {
                "Sid": "GatewayWritesReads",
                "Effect": "Allow",
                "Principal": who,
                "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/reads/*"],
            },
            {  # the search index is derived from the reads: compaction deletes merged parts
                "Sid": "GatewayKeepsIndex",
                "Effect": "Allow",
                "Principal": who,
                "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/index/*"],
            },
            {
                "Sid": "GatewayWritesAuditHeads",
                "Effect": "Allow",
                "Principal": who,
                "Action": ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{AUDIT_HEADS}*"],
            },
            {
                "Sid": "GatewayLists",
                "Effect": "Allow",
                "Principal": who,
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Sid": "GatewayNeverDeletes",
                "Effect": "Deny",
                "Principal": who,
                "Action": [
                    "s3:DeleteObjectVersion",
                    "s3:PutLifecycleConfiguration",
                    "s3:PutBucketPolicy",
                    "s3:PutObjectLegalHold",
                    "s3:BypassGovernanceRetention",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Sid": "GatewayLocksOnlyAuditHeads",
                "Effect": "Deny",
                "Principal": who,
                "Action": ["s3:PutObjectRetention"],
                "NotResource": [f"arn:aws:s3:::{bucket}/{AUDIT_HEADS}*"],
            },
            {
                "Sid": "GatewayDeletesOnlyIndex",
                "Effect": "Deny",
                "Principal": who,
                "Action": ["s3:DeleteObject"],
                "NotResource": [f"arn:aws:s3:::{bucket}/index/*"],
            },
            {
                "Sid": "GatewayNeverReadsEvidence",
                "Effect": "Deny",
                "Principal": who,
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                "Resource": [
                    f"arn:aws:s3:::{bucket}/evidence/*",
                    f"arn:aws:s3:::{bucket}/custody/*",
                ],
            },
        ]
    if evidence:
        who = {"AWS": [evidence]}
        statements += [
            {
                "Sid": "EvidenceHoldsAndRecords",
                "Effect": "Allow",
                "Principal": who,
                "Action": [
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                    "s3:PutObjectLegalHold",
                    "s3:GetObjectLegalHold",
                    "s3:PutObjectRetention",
                    "s3:GetObjectRetention",
                ],
                "Resource": [
                    f"arn:aws:s3:::{bucket}/reads/*",
                    f"arn:aws:s3:::{bucket}/evidence/*",
                    f"arn:aws:s3:::{bucket}/custody/*",
                ],
            },
            {
                "Sid": "EvidenceReleases",
                "Effect": "Allow",
                "Principal": who,
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": [f"arn:aws:s3:::{bucket}/evidence/*"],
            },
            {
                "Sid": "EvidenceLists",
                "Effect": "Allow",
                "Principal": who,
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def filter_meaning(rule: dict[str, Any]) -> tuple[str, frozenset[tuple[str, str]]]:
    """A lifecycle rule's filter as (prefix, tags): Ceph RGW returns `And` filters flattened."""
    f = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
    inner = f.get("And", f)
    tags = [*inner.get("Tags", []), *([inner["Tag"]] if "Tag" in inner else [])]
    return inner.get("Prefix", ""), frozenset((t["Key"], t["Value"]) for t in tags)


@dataclass
class BucketReport:
    done: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # the server refuses it: said, not hidden
    drift: list[str] = field(default_factory=list)


def bucket_problem(bucket: str, exc: Exception) -> str:
    """HeadBucket answers with a bare status; say what it means."""
    code = _code(exc)
    if code in ("403", "AccessDenied"):
        return f"access to bucket {bucket} denied (403): wrong credentials, or no permission"
    if code in ("404", "NoSuchBucket", "NotFound"):
        return f"bucket {bucket} does not exist (404): run alpr cloud init"
    return f"bucket {bucket} unreachable ({code})"


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def init(
    target: Target, retention_days: int, principal: str | None, evidence: str | None = None
) -> BucketReport:
    """Create or verify the bucket and set every rule; running it again changes nothing."""
    report = BucketReport()
    if isinstance(target, FileTarget):
        (target.root / ".lifecycle.json").write_text(
            json.dumps(lifecycle_rules(retention_days), indent=2)
        )
        report.done.append(
            f"folder {target.root} ready; lifecycle applied by the gateway's sweeper"
        )
        return report
    assert isinstance(target, S3Target)
    from botocore.exceptions import ClientError

    s3, bucket = target.client, target.bucket
    try:
        s3.head_bucket(Bucket=bucket)
        report.done.append(f"bucket {bucket} exists")
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise StorageError(bucket_problem(bucket, exc)) from None
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        report.done.append(f"bucket {bucket} created with Object Lock")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    report.done.append("versioning enabled")
    try:
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        if lock.get("ObjectLockEnabled") == "Enabled":
            report.done.append("Object Lock enabled")
        else:
            report.drift.append(
                "Object Lock is not enabled (it can only be set when the bucket is created)"
            )
    except ClientError as exc:
        report.drift.append(
            f"Object Lock is not enabled ({_code(exc)}); recreate the bucket with it"
        )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules(retention_days)}
    )
    report.done.append(
        f"lifecycle: reads/ expire {retention_days} days after capture (custody/ and audit/ never)"
    )
    if principal or evidence:  # before the public access block: RGW 16.2 then refuses policies
        set_policy(s3, bucket, principal, evidence, report)
    block_public_access(s3, bucket, report, target.sse)
    try:
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        report.done.append("default encryption (SSE-S3)")
    except ClientError as exc:
        report.unsupported.append(
            f"default encryption (SSE-S3): refused by the server ({_code(exc)})"
        )
    report.done.append(encryption.describe(target))
    return report


def set_policy(
    s3: Any, bucket: str, principal: str | None, evidence: str | None, report: BucketReport
) -> None:
    from botocore.exceptions import ClientError

    want = bucket_policy(bucket, principal, evidence)
    who = " and ".join(p for p in (principal, evidence) if p)
    try:
        if json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == want:
            report.done.append(f"least-privilege policy for {who} (already set)")
            return
    except ClientError:
        pass  # no policy yet
    try:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(want))
        report.done.append(f"least-privilege policy for {who}")
    except ClientError as exc:
        report.unsupported.append(
            f"bucket policy: refused by the server ({_code(exc)}); on Ceph RGW 16.2 a policy can only "
            "be changed while BlockPublicPolicy is off"
        )


FULL_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# Ceph RGW 16.2 refuses every PutObject once BlockPublicAcls is set (seen here); ignoring public ACLs
# instead keeps objects private just the same.
RGW_BLOCK = {**FULL_BLOCK, "BlockPublicAcls": False}
PROBE_KEY = "alpr-init-probe"


def block_public_access(
    s3: Any, bucket: str, report: BucketReport, sse: dict[str, str] | None = None
) -> None:
    """Block all public access; fall back to RGW_BLOCK where the server then refuses writes.

    The probe object is written like any other (`sse`: the SSE-C parameters, if any)."""
    sse = sse or {}
    from botocore.exceptions import ClientError

    try:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=FULL_BLOCK)
    except ClientError as exc:
        report.unsupported.append(f"public access block: refused by the server ({_code(exc)})")
        return
    try:
        s3.put_object(Bucket=bucket, Key=PROBE_KEY, Body=b"probe", **sse)
        report.done.append("public access blocked")
    except ClientError:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=RGW_BLOCK)
        report.unsupported.append(
            "public access block: this server refuses writes under BlockPublicAcls (a Ceph RGW 16.2 "
            "fault); public ACLs are ignored instead (IgnorePublicAcls), which keeps objects private"
        )


def check(
    target: Target, retention_days: int, principal: str | None, evidence: str | None = None
) -> BucketReport:
    """Differences between the live bucket and what the config asks for."""
    report = BucketReport()
    if isinstance(target, FileTarget):
        rules_file = target.root / ".lifecycle.json"
        live = json.loads(rules_file.read_text()) if rules_file.exists() else None
        if live != lifecycle_rules(retention_days):
            report.drift.append("lifecycle rules differ from the config (run alpr cloud init)")
        return report
    assert isinstance(target, S3Target)
    from botocore.exceptions import ClientError

    s3, bucket = target.client, target.bucket
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        report.drift.append(bucket_problem(bucket, exc))
        return report
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        report.drift.append("versioning is not enabled")
    try:
        enabled = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"].get(
            "ObjectLockEnabled"
        )
    except ClientError:
        enabled = None
    if enabled != "Enabled":
        report.drift.append("Object Lock is not enabled")
    try:
        live_rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError:
        live_rules = []
    want = {r["ID"]: r for r in lifecycle_rules(retention_days)}
    have = {r.get("ID"): r for r in live_rules}
    for rule_id, rule in want.items():
        live = have.get(rule_id)
        if live is None:
            report.drift.append(f"lifecycle rule {rule_id} is missing")
            continue
        if filter_meaning(live) != filter_meaning(rule):
            report.drift.append(
                f"lifecycle rule {rule_id}: filter is {live.get('Filter')}, config says {rule['Filter']}"
            )
        for key in ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
            if (
                key in rule
                and {k: v for k, v in live.get(key, {}).items() if k in rule[key]} != rule[key]
            ):
                report.drift.append(
                    f"lifecycle rule {rule_id}: {key} is {live.get(key)}, config says {rule[key]}"
                )
    for rule_id in set(have) - set(want):
        report.drift.append(f"lifecycle rule {rule_id} is not in the config")
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        if block == RGW_BLOCK:
            report.unsupported.append(
                "public access: public ACLs ignored (BlockPublicAcls breaks RGW 16.2)"
            )
        elif block != FULL_BLOCK:
            report.drift.append(f"public access is not fully blocked: {block}")
    except ClientError as exc:
        report.unsupported.append(f"public access block: not available ({_code(exc)})")
    try:
        s3.get_bucket_encryption(Bucket=bucket)
    except ClientError as exc:
        report.unsupported.append(
            f"default encryption: not set or not supported by the server ({_code(exc)})"
        )
    if principal or evidence:
        try:
            live_policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
            if live_policy != bucket_policy(bucket, principal, evidence):
                report.drift.append("bucket policy differs from the least-privilege policy")
        except ClientError as exc:
            report.drift.append(f"no bucket policy ({_code(exc)})")
    encryption.check(target, report)
    return report


def verify_retention(
    target: Target, retention_days: int, grace_days: float, now: float | None = None
) -> list[tuple[str, float]]:
    """Objects under reads/ whose read was captured more than retention plus grace days ago:
    (key, days since capture). Should be empty.

    The key's dt= day (never later than the capture) picks the candidates without a request per
    object; each candidate's exact capture time then comes from its metadata.
    """
    now = now or time.time()
    limit = now - (retention_days + grace_days) * DAY_S
    late = []
    for listed in target.list("reads/"):
        if captured_at(listed.key, {}, listed.modified) >= limit:
            continue
        obj = target.head(listed.key) or listed
        captured = captured_at(obj.key, obj.metadata, obj.modified)
        if captured < limit:
            late.append((obj.key, (now - captured) / DAY_S))
    return late
