"""The Parquet index of reads: `index/dt=YYYY-MM-DD/site=S/part-*.parquet` beside the reads.

Sync writes one small part per (day, site) and batch; `compact` merges a partition's parts into one
(write the merged part, then delete the parts it holds). Between the two steps a reader sees each
read twice, and a reader that listed a part just before it was deleted finds it gone: readers
therefore drop duplicate read ids and list again when a part has vanished (`cloud.query`).
The layout is Hive's, so Athena, Trino and Spark read the same files (`dt` and `site` come from the
path, as partition columns).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cloud.storage import S3Target, StorageError, StoredObject, Target, read_key_prefix

log = logging.getLogger("alpr.index")

PREFIX = "index/"
COMPACT_EVERY_S = 3600.0
PART_RE = re.compile(r"^index/dt=(\d{4}-\d{2}-\d{2})/site=([^/]+)/(part-[^/]+\.parquet)$")

ALTERNATE = pa.struct([("plate", pa.string()), ("confidence", pa.float32())])
# The columns inside each file; dt and site are the partition columns, taken from the path.
SCHEMA = pa.schema(
    [
        ("read_id", pa.string()),
        ("plate", pa.string()),
        ("state", pa.string()),
        ("confidence", pa.float32()),
        ("captured", pa.timestamp("us", tz="UTC")),
        ("camera", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("heading", pa.float32()),
        ("image_key", pa.string()),
        ("crop_key", pa.string()),
        ("alternates", pa.list_(ALTERNATE)),
    ]
)
PARTITION = pa.schema([("dt", pa.string()), ("site", pa.string())])
FULL_SCHEMA = pa.unify_schemas([SCHEMA, PARTITION])


def day_of(captured: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(captured))


def partition_prefix(day: str, site: str | None = None) -> str:
    return f"{PREFIX}dt={day}/" + (f"site={site}/" if site is not None else "")


def read_keys(day: str, site: str, camera: str, read_id: str) -> tuple[str, str]:
    """The best frame's key, and the metadata's key, which holds the plate crop (`plate_jpeg`)."""
    base = read_key_prefix(day, site, camera, read_id)
    return f"{base}.jpg", f"{base}.json"


def _alternates(raw: Any) -> list[dict[str, Any]]:
    items = json.loads(raw) if isinstance(raw, str | bytes) else raw or []
    return [{"plate": str(a[0]), "confidence": float(a[1])} for a in items]


def reads_table(reads: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows of the gateway's `reads` table (or dicts with the same names) as an index table."""
    cols: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    sites: list[str] = []
    for r in reads:
        keys = r.keys()
        day = day_of(float(r["captured"]))
        image, crop = read_keys(day, r["site"], r["camera"], r["id"])
        cols["read_id"].append(r["id"])
        cols["plate"].append(r["text"])
        cols["state"].append(r["state"] if "state" in keys else None)
        cols["confidence"].append(float(r["confidence"]))
        cols["captured"].append(round(float(r["captured"]) * 1e6))
        cols["camera"].append(r["camera"])
        cols["lat"].append(r["lat"])
        cols["lon"].append(r["lon"])
        cols["heading"].append(r["heading"])
        cols["image_key"].append(image)
        cols["crop_key"].append(crop)
        cols["alternates"].append(_alternates(r["alternates"]))
        sites.append(r["site"])
    table = pa.table(
        {n: pa.array(cols[n], SCHEMA.field(n).type) for n in SCHEMA.names}, schema=SCHEMA
    )
    return table.append_column("site", pa.array(sites, pa.string()))


def parquet_bytes(table: pa.Table) -> bytes:
    """Sorted by plate so that an exact plate skips whole row groups on their min/max."""
    table = table.select(SCHEMA.names).cast(SCHEMA).sort_by([("plate", "ascending")])
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=64_000,
        use_dictionary=["state", "camera", "lat", "lon", "heading"],
    )
    return sink.getvalue()


def drop(target: Target, key: str) -> None:
    """Delete an index part. On a bucket a plain DELETE (a delete marker; the lifecycle rule removes
    the old version a day later), since the gateway may never delete object versions."""
    if isinstance(target, S3Target):
        target._call("DeleteObject", target.client.delete_object, Key=key)
    else:
        target.delete(key)


def _name(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


def write_parts(target: Target, table: pa.Table) -> list[str]:
    """One part per (day, site) in the table; the name is a hash of its read ids, so a retry
    rewrites the same object. The table needs a `site` column beside SCHEMA's."""
    if table.num_rows == 0:
        return []
    micros = table["captured"].cast(pa.int64()).to_numpy()
    days = np.array([day_of(m / 1e6) for m in micros])
    sites = np.asarray(table["site"].to_pylist(), dtype=object)
    keys = []
    for day, site in sorted({(str(d), str(s)) for d, s in zip(days, sites, strict=True)}):
        idx = np.flatnonzero((days == day) & (sites == site))
        part = table.take(pa.array(idx))
        key = f"{partition_prefix(day, site)}part-{_name(part['read_id'].to_pylist())}.parquet"
        target.put(key, parquet_bytes(part), {"rows": str(part.num_rows)})
        keys.append(key)
    return keys


@dataclass(frozen=True)
class Part:
    key: str
    day: str
    site: str
    size: int


def list_parts(target: Target, day: str | None = None, site: str | None = None) -> list[Part]:
    """The parts under one day (and site), or all of them; anything else under index/ is skipped."""
    prefix = partition_prefix(day, site) if day else PREFIX
    out = []
    for obj in target.list(prefix):
        m = PART_RE.match(obj.key)
        if m:
            out.append(Part(obj.key, m.group(1), m.group(2), obj.size))
    return out


def dedupe(table: pa.Table) -> pa.Table:
    """Keep one row per read id (the first): what a reader sees mid-compaction holds both copies."""
    ids = table["read_id"].to_numpy(zero_copy_only=False)
    if len(ids) == 0:
        return table
    _, first = np.unique(ids, return_index=True)
    if len(first) == len(ids):
        return table
    return table.take(pa.array(np.sort(first)))


@dataclass
class Compaction:
    day: str
    site: str
    merged: list[str] = field(default_factory=list)
    written: str = ""
    rows: int = 0


def compact_partition(target: Target, day: str, site: str) -> Compaction | None:
    """Merge the partition's parts into one: write the new part first, then delete the old ones.

    A crash in between leaves both (readers dedupe; the next run merges again); the new name is a
    hash of the merged keys, so two compactions of the same parts write the same object."""
    parts = list_parts(target, day, site)
    if len(parts) < 2:
        return None
    tables = []
    for p in parts:
        try:
            tables.append(pq.read_table(io.BytesIO(target.get(p.key)), schema=SCHEMA))
        except StorageError:  # deleted meanwhile by another compaction: its rows are in its output
            log.info("index part %s vanished during compaction; merging the rest", p.key)
    merged = dedupe(pa.concat_tables(tables)) if tables else None
    if merged is None:
        return None
    key = f"{partition_prefix(day, site)}part-c{_name(p.key for p in parts)}.parquet"
    target.put(key, parquet_bytes(merged), {"rows": str(merged.num_rows)})
    for p in parts:
        if p.key != key:
            drop(target, p.key)
    return Compaction(day, site, [p.key for p in parts], key, merged.num_rows)


def compact(target: Target, day: str | None = None, site: str | None = None) -> list[Compaction]:
    """Compact every partition with more than one part (or those of one day, one site)."""
    partitions = sorted({(p.day, p.site) for p in list_parts(target, day, site)})
    done = []
    for d, s in partitions:
        result = compact_partition(target, d, s)
        if result is not None:
            done.append(result)
    return done


def expire(target: Target, retention_days: int, now: float | None = None) -> int:
    """Delete parts of days wholly past retention (the bucket's lifecycle rule is the backstop)."""
    today = dt.datetime.fromtimestamp(now or time.time(), dt.UTC).date()
    cut = (today - dt.timedelta(days=retention_days)).isoformat()
    removed = 0
    for p in list_parts(target):
        if p.day < cut:
            drop(target, p.key)
            removed += 1
    return removed


_last_compaction: dict[str, float] = {}
_lock = threading.Lock()


def on_synced(target: Target, reads: list[Any], retention_days: int) -> None:
    """Sync's hook: index the reads that just landed; hourly, compact and expire the index.

    A failed part write raises StorageError, so the batch is tried again; a failed compaction is
    only logged (the parts stay readable)."""
    write_parts(target, reads_table(reads))
    now = time.time()
    with _lock:
        if now - _last_compaction.get(target.url, 0.0) < COMPACT_EVERY_S:
            return
        _last_compaction[target.url] = now
    try:
        merged = compact(target)
        expired = expire(target, retention_days, now)
        log.info("index: %d partitions compacted, %d expired parts deleted", len(merged), expired)
    except StorageError as exc:
        log.warning("index compaction failed (parts stay readable): %s", exc)


def stored_parts(objects: Iterable[StoredObject]) -> list[Part]:
    """Parts among listed objects (for readers that list with their own client)."""
    out = []
    for obj in objects:
        m = PART_RE.match(obj.key)
        if m:
            out.append(Part(obj.key, m.group(1), m.group(2), obj.size))
    return out
