"""Every bad input gets a clear error, and no crash."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.reader.images import ImageError, check_jpeg_whole, decode, header_size, load


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def jpeg_header(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00" * 3
    return b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 + sof


def real_jpeg(w: int = 64, h: int = 32) -> bytes:
    img = np.full((h, w, 3), 200, np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_good_jpeg_decodes() -> None:
    assert decode(real_jpeg()).shape == (32, 64, 3)
    assert header_size(real_jpeg(80, 40)) == (80, 40)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"plate ABC123, not a picture\n", "not a decodable image"),
        (real_jpeg()[:40], "corrupt"),
        (b"\xff\xd8" + b"\x00" * 200, "corrupt JPEG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "corrupt PNG"),
        (cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes(), "too small: 1x1"),
        (png_header(20000, 20000) + b"\x00" * 100, "too large: 20000x20000"),
        (jpeg_header(20000, 20000) + b"\x00" * 100, "too large: 20000x20000"),
    ],
    ids=[
        "empty",
        "text",
        "truncated-jpeg",
        "jpeg-no-frame",
        "png-no-ihdr",
        "1x1",
        "png-20000",
        "jpeg-20000",
    ],
)
def test_bad_input_is_named(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode(data)


def test_load_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(ImageError, match=r"bad\.jpg: not a decodable image"):
        load(bad)
    with pytest.raises(ImageError, match="cannot read"):
        load(tmp_path / "missing.jpg")


def jpeg_with_padding(pad: bytes) -> bytes:
    return real_jpeg(320, 240) + pad


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda j: j[: len(j) // 2], "cut off (no end-of-image marker)"),
        (lambda j: j[: len(j) - 2], "cut off (no end-of-image marker)"),
        (lambda j: j[:150], "runs past the end"),
        (lambda j: j[:3], "cut off in its headers"),
        (lambda j: j[:120] + b"\x00" * (len(j) - 122) + b"\xff\xd9", "no marker at byte"),
        (lambda j: j[:2] + b"\xff\xd9" + bytes(8), "ends before its image data"),
        (lambda j: b"GIF89a" + j, "not a JPEG"),
    ],
    ids=["half", "no-eoi", "headers-cut", "three-bytes", "zeroed-headers", "eoi-first", "gif"],
)
def test_a_cut_or_damaged_jpeg_is_refused_without_decoding(cut: Any, message: str) -> None:
    with pytest.raises(ImageError, match=re.escape(message)):
        check_jpeg_whole(cut(real_jpeg(320, 240)))


def test_whole_jpegs_pass_the_walk_with_or_without_padding() -> None:
    check_jpeg_whole(real_jpeg(320, 240))
    check_jpeg_whole(jpeg_with_padding(b"\x00" * 300))  # some cameras pad their frames
    gray = cv2.imencode(".jpg", np.full((40, 60), 90, np.uint8))[1].tobytes()
    check_jpeg_whole(gray)
