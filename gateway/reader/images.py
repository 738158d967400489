"""Decode untrusted image bytes safely: size is checked from the header before any pixel is decoded."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

MAX_PIXELS = 40_000_000  # a 40 MP frame is far above any camera we ship for
MIN_SIDE = 16


class ImageError(ValueError):
    """The input is not an image the reader can use; the message says why."""


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, or None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageError("corrupt PNG: no IHDR header")
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
            # SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC)
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                if i + 9 > len(data):
                    break
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + seg_len
        raise ImageError("corrupt JPEG: no frame header")
    return None


END_SEARCH = 4096  # bytes from the end in which the end-of-image marker must lie (some cameras pad)


def check_jpeg_whole(data: bytes) -> None:
    """A JPEG whose header segments are whole up to the start of its scan, with a frame header,
    and whose end-of-image marker is there: what a cut-off upload or a damaged header breaks.

    This walks the markers instead of decoding: a decode costs as much CPU as the rest of an
    upload's handling, and catches no more of these faults (a decoder fills damaged scan data
    with grey and succeeds)."""
    if data[:2] != b"\xff\xd8":
        raise ImageError("not a JPEG")
    i, frame = 2, False
    while True:
        if i + 4 > len(data):
            raise ImageError("corrupt JPEG: cut off in its headers")
        if data[i] != 0xFF:
            raise ImageError(f"corrupt JPEG: no marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 2
            continue
        if marker == 0xD9:
            raise ImageError("corrupt JPEG: it ends before its image data")
        seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if seg_len < 2 or i + 2 + seg_len > len(data):
            raise ImageError(f"corrupt JPEG: the segment at byte {i} runs past the end")
        frame = frame or (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC))
        if marker == 0xDA:
            break
        i += 2 + seg_len
    if not frame:
        raise ImageError("corrupt JPEG: no frame header")
    if data.rfind(b"\xff\xd9", max(i, len(data) - END_SEARCH)) < 0:
        raise ImageError("corrupt JPEG: cut off (no end-of-image marker)")


def check_size(width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageError(
            f"image too small: {width}x{height} (at least {MIN_SIDE}x{MIN_SIDE} needed)"
        )
    if width * height > MAX_PIXELS:
        raise ImageError(f"image too large: {width}x{height} (at most {MAX_PIXELS:,} pixels)")


def decode(data: bytes) -> np.ndarray:
    """BGR pixels of an encoded image, or ImageError naming what is wrong with it."""
    if not data:
        raise ImageError("empty file")
    size = header_size(data)
    if size is not None:
        check_size(*size)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError("not a decodable image (corrupt or unsupported format)")
    check_size(img.shape[1], img.shape[0])
    return img


def load(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return decode(data)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
