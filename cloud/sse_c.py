"""SSE-C: objects encrypted by the S3 server with a key that the agency holds and sends per request.

Ceph RGW applies SSE-C but not SSE-S3 (cloud/RGW-vs-AWS.md), so this is how reads are encrypted at
rest there. The server keeps only a salted hash of the key: without the key nobody, the bucket owner
included, reads the objects back, and a lost key loses them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

ALGORITHM = "AES256"
KEY_BYTES = 32
KEY_FORMS = "32 raw bytes, or their base64 (44 characters)"


def decode_key(raw: bytes) -> bytes:
    """The 32-byte key from what a secret holds: exactly 32 bytes are the key itself, anything
    else must be base64 of 32 bytes. ValueError names the problem, never the key."""
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip()
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"not a key: {len(raw)} bytes that are not valid base64 (expected {KEY_FORMS})"
        ) from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"the base64 decodes to {len(key)} bytes, an AES-256 key has {KEY_BYTES} "
            f"(expected {KEY_FORMS})"
        )
    return key


def key_md5(key: bytes) -> str:
    """The key's MD5 in base64: what the server checks the key against, safe to print."""
    return base64.b64encode(hashlib.md5(key, usedforsecurity=False).digest()).decode()


def request_params(key: bytes) -> dict[str, str]:
    """The SSECustomer* parameters of PutObject, GetObject and HeadObject. Key and MD5 are both
    given, so botocore sends them as they are.

    There is no CopyObject variant: Ceph RGW 16.2 answers 501 NotImplemented to a copy from an
    SSE-C source, so evidence copies are a GET and a PUT, each with these parameters."""
    return {
        "SSECustomerAlgorithm": ALGORITHM,
        "SSECustomerKey": base64.b64encode(key).decode(),
        "SSECustomerKeyMD5": key_md5(key),
    }
