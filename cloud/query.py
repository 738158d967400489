"""Search the Parquet index of reads: pyarrow datasets find and read the files, DuckDB filters.

Only the partitions a search can touch are listed (one prefix per day, or per day and site), so a
search of one site on one day opens one file whatever the retention holds. A search over many
files runs in two passes: first only the columns the filters need, to learn which partitions hold
a match; then every column of those partitions alone. Rows are deduplicated by read id, and a part
that vanishes under a running compaction makes the search list again (see `cloud.index`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cloud.index import FULL_SCHEMA, PART_RE, PREFIX, SCHEMA, partition_prefix

EARTH_RADIUS_M = 6_371_008.8
PLATE_RE = re.compile(r"^[A-Z0-9?*]+$")
MAX_DAYS_LISTED = 400  # beyond this many days, list the whole index instead of day by day
RETRIES = 3
WHOLE_FILE_MAX = 2 * 2**20  # parts up to this size are fetched whole
READERS = 64  # parts fetched at once in the first pass (I/O, not CPU)


class QueryError(ValueError):
    """A search that cannot run as given; the message names the problem."""


def normalise_plate(text: str) -> str:
    """Upper case, without spaces and dashes; `?` (one character) and `*` (any run) allowed."""
    plate = re.sub(r"[\s\-]", "", text).upper()
    if not plate:
        raise QueryError("plate: empty after removing spaces and dashes")
    if not PLATE_RE.match(plate):
        bad = sorted(set(re.sub(r"[A-Z0-9?*]", "", plate)))
        raise QueryError(
            f"plate {text!r}: only letters, digits, ? and * are allowed (found {''.join(bad)!r})"
        )
    if set(plate) <= {"*"}:
        raise QueryError(f"plate {text!r}: a pattern needs at least one letter, digit or ?")
    return plate


@dataclass(frozen=True)
class Filters:
    plate: str | None = None  # normalised; with ? or * it is a pattern
    start: float | None = None  # Unix seconds, inclusive
    end: float | None = None  # Unix seconds, exclusive
    sites: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    near: tuple[float, float, float] | None = None  # lat, lon, radius in metres
    state: str | None = None
    read_id: str | None = None

    def describe(self) -> dict[str, Any]:
        """The filters as recorded in the audit log."""
        out = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        for k in ("start", "end"):
            if k in out:
                out[k] = dt.datetime.fromtimestamp(out[k], dt.UTC).isoformat()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Filters:
        """Filters kept as `asdict` gives them (in a search request): the lists back to tuples."""
        near = raw.get("near")
        return cls(
            **{
                **raw,
                "sites": tuple(raw.get("sites") or ()),
                "cameras": tuple(raw.get("cameras") or ()),
                "near": (near[0], near[1], near[2]) if near else None,
            }
        )

    @property
    def pattern(self) -> bool:
        return self.plate is not None and ("?" in self.plate or "*" in self.plate)


@dataclass
class Stats:
    """What a search touched: proof that pruning prunes, and where the time went."""

    prefixes_listed: int = 0
    files_listed: int = 0
    files_scanned: int = 0  # first pass: the filter columns only
    files_read: int = 0  # second pass: every column
    seconds: float = 0.0


@dataclass
class Result:
    rows: list[dict[str, Any]]
    stats: Stats = field(default_factory=Stats)


@dataclass(frozen=True)
class IndexSource:
    """Where the index lives, as pyarrow sees it: a filesystem and the path of the bucket root."""

    fs: pafs.FileSystem
    base: str

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of every part under prefix; sizes spare a HEAD per file when reading."""
        sel = pafs.FileSelector(f"{self.base}/{prefix}".rstrip("/"), recursive=True)
        sel.allow_not_found = True
        out = []
        for info in self.fs.get_file_info(sel):
            if info.type != pafs.FileType.File:
                continue
            key = info.path[len(self.base) + 1 :]
            if PART_RE.match(key):
                out.append((key, int(info.size or 0)))
        return out


def source_for(
    url: str,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str = "us-east-1",
    base_dir: str | None = None,
    sse_c_key: bytes | None = None,
) -> IndexSource:
    """file://PATH or s3://BUCKET, as in the storage config; with `sse_c_key` the bucket is read
    through boto3 with the SSE-C headers (cloud/sse_fs.py), which pyarrow's S3 cannot send."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = parts.netloc + parts.path
        if base_dir and not path.startswith("/"):
            path = f"{base_dir.rstrip('/')}/{path}"
        return IndexSource(pafs.LocalFileSystem(), path.rstrip("/"))
    if parts.scheme == "s3" and parts.netloc and sse_c_key is not None:
        from cloud.sse_fs import sse_c_filesystem
        from cloud.storage import S3Target, s3_client

        client = s3_client(endpoint, access_key, secret_key, region)
        target = S3Target(parts.netloc, client, url, sse_c_key)
        return IndexSource(sse_c_filesystem(target), parts.netloc)
    if parts.scheme == "s3" and parts.netloc:
        kw: dict[str, Any] = {"region": region, "access_key": access_key, "secret_key": secret_key}
        if endpoint:
            ep = urlsplit(endpoint)
            kw["endpoint_override"] = ep.netloc or endpoint
            kw["scheme"] = ep.scheme or "https"
        return IndexSource(pafs.S3FileSystem(**kw), parts.netloc)
    raise QueryError(f"storage target must be file://PATH or s3://BUCKET, got {url!r}")


def days_between(start: float, end: float) -> list[str]:
    first = dt.datetime.fromtimestamp(start, dt.UTC).date()
    last = dt.datetime.fromtimestamp(max(start, end - 1e-6), dt.UTC).date()
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def prefixes(f: Filters) -> list[str]:
    """The listing prefixes: partition pruning by day and site happens here."""
    if f.start is None or f.end is None:
        days: list[str | None] = [None]
    else:
        found = days_between(f.start, f.end)
        days = [None] if len(found) > MAX_DAYS_LISTED else list(found)
    out = []
    for day in days:
        if day is None:
            out.append(PREFIX)
        elif f.sites:
            out.extend(partition_prefix(day, s) for s in f.sites)
        else:
            out.append(partition_prefix(day))
    return out


def where(f: Filters) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters; simple comparisons first, so they reach the scan."""
    sql: list[str] = []
    params: list[Any] = []
    if f.plate is not None:
        if f.pattern:
            sql.append("plate LIKE ?")
            params.append(f.plate.replace("?", "_").replace("*", "%"))
        else:
            sql.append("plate = ?")
            params.append(f.plate)
    if f.start is not None:
        sql.append("captured >= ?")
        params.append(dt.datetime.fromtimestamp(f.start, dt.UTC))
    if f.end is not None:
        sql.append("captured < ?")
        params.append(dt.datetime.fromtimestamp(f.end, dt.UTC))
    if f.sites:
        sql.append(f"site IN ({', '.join('?' for _ in f.sites)})")
        params.extend(f.sites)
    if f.cameras:
        sql.append(f"camera IN ({', '.join('?' for _ in f.cameras)})")
        params.extend(f.cameras)
    if f.state is not None:
        sql.append("state = ?")
        params.append(f.state)
    if f.read_id is not None:
        sql.append("read_id = ?")
        params.append(f.read_id)
    if f.near is not None:
        lat, lon, radius = f.near
        dlat = math.degrees(radius / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        sql.append("lat BETWEEN ? AND ? AND lon BETWEEN ? AND ?")
        params.extend([lat - dlat, lat + dlat, lon - dlon, lon + dlon])
        sql.append(
            "2 * ? * asin(sqrt(pow(sin(radians(lat - ?) / 2), 2) + cos(radians(?))"
            " * cos(radians(lat)) * pow(sin(radians(lon - ?) / 2), 2))) <= ?"
        )
        params.extend([EARTH_RADIUS_M, lat, lat, lon, radius])
    return (" AND ".join(sql) or "TRUE"), params


def filter_columns(f: Filters) -> list[str]:
    cols = ["dt", "site"]
    if f.plate is not None:
        cols.append("plate")
    if f.start is not None or f.end is not None:
        cols.append("captured")
    if f.cameras:
        cols.append("camera")
    if f.state is not None:
        cols.append("state")
    if f.read_id is not None:
        cols.append("read_id")
    if f.near is not None:
        cols += ["lat", "lon"]
    return cols


def dataset(source: IndexSource, parts: Sequence[tuple[str, int]]) -> ds.Dataset:
    """A dataset of exactly these parts, dt and site bound from each path (no discovery, no HEAD)."""
    fmt = ds.ParquetFileFormat()
    fragments = []
    for key, size in parts:
        m = PART_RE.match(key)
        assert m is not None
        expr = (ds.field("dt") == m.group(1)) & (ds.field("site") == m.group(2))
        fragments.append(
            fmt.make_fragment(
                f"{source.base}/{key}", source.fs, partition_expression=expr, file_size=size
            )
        )
    return ds.FileSystemDataset(fragments, FULL_SCHEMA, fmt, source.fs)


OUTPUT = (
    "read_id, plate, state, confidence, epoch_us(captured) AS captured_us, dt, site, camera,"
    " lat, lon, heading, image_key, crop_key, alternates"
)


def _connect(threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads={int(threads)}")
    return con


def first_pass(
    source: IndexSource, f: Filters, parts: list[tuple[str, int]], readers: int
) -> pa.Table:
    """Only the columns the filters need, from every part, with the part's number: the files are
    fetched by several readers at once (object stores answer one request at a time slowly), the
    filtering itself is DuckDB's."""
    fmt = ds.ParquetFileFormat()
    file_cols = [c for c in filter_columns(f) if c not in ("dt", "site")]
    remote = not isinstance(source.fs, pafs.LocalFileSystem)
    schema = SCHEMA

    def read(i: int) -> pa.Table:
        key, size = parts[i]
        m = PART_RE.match(key)
        assert m is not None
        path = f"{source.base}/{key}"
        if remote and size <= WHOLE_FILE_MAX:  # one request, not a footer read then the columns
            with source.fs.open_input_stream(path) as fh:
                data = fh.read()
            t = pq.read_table(pa.BufferReader(data), columns=file_cols, schema=schema)
        else:
            frag = fmt.make_fragment(path, source.fs, file_size=size)
            t = frag.to_table(schema=schema, columns=file_cols, use_threads=False)
        n = t.num_rows
        return (
            t.append_column("dt", pa.repeat(pa.scalar(m.group(1)), n))
            .append_column("site", pa.repeat(pa.scalar(m.group(2)), n))
            .append_column("part", pa.array(np.full(n, i, np.int32)))
        )

    if pa.io_thread_count() < readers:  # pyarrow's own I/O pool carries the reads of a fragment
        pa.set_io_thread_count(readers)
    with ThreadPoolExecutor(max(1, readers), thread_name_prefix="index-read") as pool:
        tables = list(pool.map(read, range(len(parts))))
    return pa.concat_tables(tables)


def fetch(source: IndexSource, parts: list[tuple[str, int]], readers: int) -> pa.Table:
    """Every column of these parts, each fetched whole in one request (no footer round trip)."""

    def read(key: str) -> pa.Table:
        m = PART_RE.match(key)
        assert m is not None
        with source.fs.open_input_stream(f"{source.base}/{key}") as fh:
            data = fh.read()
        t = pq.read_table(pa.BufferReader(data), schema=SCHEMA, use_threads=False)
        n = t.num_rows
        return t.append_column("dt", pa.repeat(pa.scalar(m.group(1)), n)).append_column(
            "site", pa.repeat(pa.scalar(m.group(2)), n)
        )

    with ThreadPoolExecutor(max(1, min(readers, len(parts))), "index-fetch") as pool:
        return pa.concat_tables(list(pool.map(read, [k for k, _ in parts])))


def _run(
    source: IndexSource,
    f: Filters,
    parts: list[tuple[str, int]],
    threads: int,
    stats: Stats,
    readers: int = READERS,
) -> list[dict[str, Any]]:
    clause, params = where(f)
    con = _connect(threads)
    try:
        if len(parts) > 1:
            con.register("idx", first_pass(source, f, parts, readers))
            hit = {
                i
                for (i,) in con.execute(
                    f"SELECT DISTINCT part FROM idx WHERE {clause}", params
                ).fetchall()
            }
            stats.files_scanned = len(parts)
            con.unregister("idx")
            parts = [p for i, p in enumerate(parts) if i in hit]
        stats.files_read = len(parts)
        if not parts:
            return []
        con.register("idx", fetch(source, parts, readers))
        cur = con.execute(
            f"SELECT DISTINCT ON (read_id) {OUTPUT} FROM idx WHERE {clause} ORDER BY read_id",
            params,
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    for r in rows:
        r["captured"] = r.pop("captured_us") / 1e6
    rows.sort(key=lambda r: (r["captured"], r["read_id"]))
    return rows


def list_all(source: IndexSource, prefixes: list[str]) -> list[tuple[str, int]]:
    """Every part under these prefixes, the listings sent together (each is one round trip)."""
    with ThreadPoolExecutor(max(1, min(READERS, len(prefixes))), "index-list") as pool:
        return sorted({p for found in pool.map(source.list, prefixes) for p in found})


def search(source: IndexSource, f: Filters, threads: int = 1) -> Result:
    """Every read matching all the filters, oldest first, each once."""
    t0 = time.perf_counter()
    stats = Stats()
    last: Exception | None = None
    for _ in range(RETRIES):
        pre = prefixes(f)
        parts = list_all(source, pre)
        stats.prefixes_listed, stats.files_listed = len(pre), len(parts)
        try:
            rows = _run(source, f, parts, threads, stats)
        except (OSError, duckdb.Error) as exc:  # a part compacted away under us: list again
            keys = {k for k, _ in parts}
            now = {k for k, _ in list_all(source, pre)}
            if keys <= now:
                raise
            last = exc
            continue
        stats.seconds = time.perf_counter() - t0
        return Result(rows, stats)
    raise QueryError(f"the index kept changing during the search: {last}")
