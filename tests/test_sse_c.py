"""SSE-C: the key's forms and the config's rules, then every object the product writes to a real
Ceph RGW (reads, index, evidence copies, custody, audit heads) encrypted with the agency's key:
readable with it, refused (400) without it or with another key, and reported by `cloud check`."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from access_helpers import Team
from botocore.exceptions import ClientError
from gateway_helpers import write_config
from s3local import s3_client as owner_client
from sync_helpers import make_read
from test_cloud_rgw import alpr, s3_config

from cloud import evidence, index, sse_c
from cloud.query import Filters, search, source_for
from cloud.storage import S3Target, StorageError, s3_client
from gateway.access import audit
from gateway.config import Config, ConfigError, load
from gateway.store import Store
from gateway.sync import Syncer
from tools.ops.cloud_cmd import target_for
from tools.ops.evidence_hold import hold_read

KEY = bytes(range(32))  # begins with a NUL and holds whitespace bytes: raw keys are read exactly
KEY_ENV = "ALPR_TEST_SSE_C_KEY"


def storage_config(tmp_path: Path, lines: str) -> Path:
    return write_config(tmp_path, extra=f"\n[storage]\n{lines}\n")


def test_key_raw_or_base64_and_the_config_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sse_c.decode_key(KEY) == KEY
    assert sse_c.decode_key(base64.b64encode(KEY) + b"\n") == KEY
    with pytest.raises(ValueError, match="decodes to 16 bytes"):
        sse_c.decode_key(base64.b64encode(KEY[:16]))
    with pytest.raises(ValueError, match="not valid base64"):
        sse_c.decode_key(b"a passphrase is not a key")

    (tmp_path / "sse.key").write_bytes(KEY)
    s3 = 'target = "s3://b"\nendpoint = "http://127.0.0.1:9"\nencryption = "sse-c"\n'
    assert (
        load(storage_config(tmp_path, s3 + 'sse_c_key = "file:sse.key"')).storage.sse_c_key() == KEY
    )
    monkeypatch.setenv(KEY_ENV, base64.b64encode(KEY).decode())
    config = load(storage_config(tmp_path, s3 + f'sse_c_key = "env:{KEY_ENV}"'))
    assert config.storage.sse_c_key() == KEY
    target = target_for(config)
    assert isinstance(target, S3Target) and target.sse == sse_c.request_params(KEY)

    monkeypatch.setenv(KEY_ENV, base64.b64encode(KEY[:16]).decode())
    for lines, problem in (
        (s3 + f'sse_c_key = "env:{KEY_ENV}"', "sse_c_key: the base64 decodes to 16 bytes"),
        (s3, 'encryption = "sse-c" needs sse_c_key'),
        ('target = "s3://b"\nsse_c_key = "file:sse.key"', 'encryption is not "sse-c"'),
        ('encryption = "sse-c"\nsse_c_key = "file:sse.key"', "needs an s3:// target"),
        (s3 + 'sse_c_key = "file:missing.key"', "missing.key"),
    ):
        with pytest.raises(ConfigError, match=problem):
            load(storage_config(tmp_path, lines))
    assert load(storage_config(tmp_path, "")).storage.sse_c_key() is None


def sse_config(
    tmp_path: Path, rgw: dict[str, str], make_team: Callable[[Path], Team]
) -> tuple[Config, Team]:
    """A bucket set up by `alpr cloud init` with SSE-C on; the key in a file, as raw bytes."""
    (tmp_path / "sse.key").write_bytes(KEY)
    config = s3_config(tmp_path, rgw, f"ssec-{uuid.uuid4().hex[:8]}", retention=30)
    path = Path(config.path)
    path.write_text(path.read_text() + 'encryption = "sse-c"\nsse_c_key = "file:sse.key"\n')
    config = load(path)
    team = make_team(path)
    out = alpr(team, "cloud", "init", "--config", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    return config, team


def status(call: Any) -> int:
    """The HTTP status of a request that must fail."""
    with pytest.raises(ClientError) as exc:
        call()
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def other_key() -> dict[str, str]:
    return sse_c.request_params(hashlib.sha256(b"another key").digest())


def test_every_object_is_encrypted_and_unreadable_without_the_key(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config, _team = sse_config(tmp_path, rgw, make_team)
    target = target_for(config)
    assert isinstance(target, S3Target) and target.sse_c_key == KEY
    store = Store(config.data_dir)
    read_id = make_read(store)
    assert Syncer(config, store, target).sync_once().synced == 1
    frame_path = store.connect().execute("SELECT frame_path FROM reads").fetchone()[0]
    (frame_key,) = [o.key for o in target.list("reads/") if o.key.endswith(".jpg")]
    assert target.get(frame_key) == (store.root / frame_path).read_bytes()
    (index_key,) = [o.key for o in target.list("reads/") if "/index/" in o.key]
    assert read_id.encode() in target.get(index_key)

    held = hold_read(config, store, target, read_id, "26-101", "det.ray", "robbery")
    manifest = evidence.export(target, "26-101", tmp_path / "out", "det.ray", "court")
    assert manifest.is_file() and len(evidence.custody(target, "26-101")) == 2
    head = audit.Head(7, "ab" * 32, "2026-01-01T00:00:00Z")
    head_key = audit.write_head(target, head, lock_days=1)
    assert audit.parse_head(target.get(head_key)) == head

    custody = [o.key for o in target.list("custody/26-101/")]
    raw = owner_client(rgw)  # type: ignore[arg-type]
    parts = [p.key for p in index.list_parts(target)]
    assert parts, "sync wrote no search index part"
    everything = [frame_key, f"{frame_key[:-4]}.json", index_key, *parts, *held, *custody, head_key]
    for key in everything:
        meta = raw.head_object(Bucket=target.bucket, Key=key, **target.sse)
        assert meta["SSECustomerAlgorithm"] == "AES256", key
        assert status(lambda k=key: raw.get_object(Bucket=target.bucket, Key=k)) == 400, key
        assert status(lambda k=key: raw.head_object(Bucket=target.bucket, Key=k)) == 400, key
        assert (
            status(lambda k=key: raw.get_object(Bucket=target.bucket, Key=k, **other_key())) == 400
        ), key

    plain = S3Target(target.bucket, target.client, target.url)
    with pytest.raises(StorageError, match=r"InvalidArgument .*is the object SSE-C encrypted"):
        plain.get(frame_key)
    wrong = S3Target(target.bucket, target.client, target.url, hashlib.sha256(b"x").digest())
    with pytest.raises(StorageError, match="another SSE-C key"):
        wrong.get(frame_key)
    with pytest.raises(StorageError, match="another SSE-C key"):
        wrong.head(frame_key)


def test_content_md5_is_still_checked_under_sse_c(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config, _team = sse_config(tmp_path, rgw, make_team)
    target = target_for(config)
    assert isinstance(target, S3Target)

    def flip(request: Any, **_: Any) -> None:  # after Content-MD5, before signing
        body = request.data
        data = body.read() if hasattr(body, "read") else body
        request.data = bytes([data[0] ^ 0x01]) + data[1:]

    target.client.meta.events.register("before-sign.s3.PutObject", flip)
    try:
        with pytest.raises(StorageError, match="BadDigest"):
            target.put("reads/dt=2026-01-01/x.jpg", b"frame bytes")
    finally:
        target.client.meta.events.unregister("before-sign.s3.PutObject", flip)
    assert list(target.list("reads/")) == []


def test_cloud_check_reports_sse_c_and_plain_objects(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    config, team = sse_config(tmp_path, rgw, make_team)
    target = target_for(config)
    assert isinstance(target, S3Target)
    target.put("reads/dt=2026-01-02/a.json", b"{}")
    out = alpr(team, "cloud", "check", "--config", str(config.path))
    assert out.returncode == 0 and "no drift" in out.stdout, out.stdout + out.stderr
    assert f"SSE-C (AES256) on every object, key MD5 {sse_c.key_md5(KEY)}" in out.stdout
    # written without the key (as before encryption was turned on): named as drift
    client = s3_client(config.storage.endpoint, *config.storage.credentials())
    client.put_object(Bucket=target.bucket, Key="reads/dt=2026-01-01/old.json", Body=b"{}")
    out = alpr(team, "cloud", "check", "--config", str(config.path))
    assert out.returncode == 1
    assert "reads/dt=2026-01-01/old.json is stored without SSE-C" in out.stdout, out.stdout
    # the bucket read without the key: its SSE-C objects are named
    path = Path(config.path)
    path.write_text(
        path.read_text().replace('encryption = "sse-c"\nsse_c_key = "file:sse.key"\n', "")
    )
    target.delete("reads/dt=2026-01-01/old.json")
    out = alpr(team, "cloud", "check", "--config", str(path))
    assert "encryption: none requested" in out.stdout
    assert "reads/dt=2026-01-02/a.json is SSE-C encrypted" in out.stdout, out.stdout


def test_search_reads_the_encrypted_index(
    rgw: dict[str, str], tmp_path: Path, make_team: Callable[[Path], Team]
) -> None:
    """`alpr search` reads the index through boto3 with the key; pyarrow's S3 alone cannot."""
    config, _team = sse_config(tmp_path, rgw, make_team)
    target = target_for(config)
    store = Store(config.data_dir)
    ids = {make_read(store, text="7ABC123", seed=i) for i in range(3)}
    assert Syncer(config, store, target).sync_once().synced == 3
    s = config.storage
    access, secret = s.credentials()
    source = source_for(s.target, s.endpoint, access, secret, s.region, None, KEY)
    found = search(source, Filters(plate="7ABC*")).rows
    assert {r["read_id"] for r in found} == ids
    without = source_for(s.target, s.endpoint, access, secret, s.region)
    with pytest.raises(OSError):
        search(without, Filters(plate="7ABC*"))
