"""Officers' corrections of misreads: the stored plate crop and the right text, kept for training.

A `misread` disposition with the true text, or `alpr reads correct`, copies the read's plate crop
into `corrections/` under the data directory and records the text in `corrections/labels.csv`
(file,plate,read_text,user,at). `alpr train ocr --corrections DIR` mixes them into training.
The crops are plate images like any read's: they are personal data and leave the gateway only
when an operator copies them for training.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from pathlib import Path

from cloud.durable import fsync_write
from gateway.reader.ocr import MAX_CHARS
from gateway.store import Store

FOLDER = "corrections"
FIELDS = ["file", "plate", "read_text", "user", "at"]
PLATE_RE = re.compile(rf"^[A-Z0-9]{{1,{MAX_CHARS}}}$")
_lock = threading.Lock()


class CorrectionError(ValueError):
    """The correction cannot be stored; the message says why."""


def folder(store: Store) -> Path:
    return store.root / FOLDER


def rows(store: Store) -> list[dict[str, str]]:
    labels = folder(store) / "labels.csv"
    if not labels.is_file():
        return []
    with open(labels, newline="") as f:
        return list(csv.DictReader(f))


def check_text(text: str) -> str:
    """The plate as stored: upper case, spaces and dashes dropped; else a CorrectionError."""
    plate = text.strip().upper().replace(" ", "").replace("-", "")
    if not PLATE_RE.match(plate):
        raise CorrectionError(f"text: {text!r} is not 1-{MAX_CHARS} letters and digits")
    return plate


def add(store: Store, read_id: str, text: str, user: str) -> Path:
    """Store the read's crop with the corrected text; a second correction of a read replaces it."""
    plate = check_text(text)
    if not user.strip():
        raise CorrectionError("user must not be empty")
    row = (
        store.connect()
        .execute("SELECT text, crop_path FROM reads WHERE id=?", (read_id,))
        .fetchone()
    )
    if row is None:
        raise CorrectionError(f"no read {read_id!r}")
    crop = store.root / row["crop_path"]
    if not crop.is_file():
        raise CorrectionError(f"read {read_id}: its plate crop is no longer stored ({crop})")
    name = f"{read_id}.jpg"
    with _lock:
        fsync_write(folder(store) / name, crop.read_bytes())
        kept = [r for r in rows(store) if r["file"] != name]
        kept.append(
            {
                "file": name,
                "plate": plate,
                "read_text": row["text"],
                "user": user.strip(),
                "at": f"{time.time():.0f}",
            }
        )
        out = io.StringIO()
        writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        fsync_write(folder(store) / "labels.csv", out.getvalue().encode())
    return folder(store) / name
