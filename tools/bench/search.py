"""`alpr bench search`: a month of reads at many sites in the index on a local Ceph RGW, then timed
searches on one core. The reads are generated column by column with numpy and pyarrow."""

from __future__ import annotations

import argparse
import calendar
import itertools
import json
import string
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cloud.index import ALTERNATE, SCHEMA, parquet_bytes, partition_prefix
from cloud.storage import Target

ALNUM = np.frombuffer((string.ascii_uppercase + string.digits).encode(), np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
STATES = np.array(["IL", "IN", "WI", "IA", ""], dtype=object)


def _strings(codes: np.ndarray) -> pa.Array:
    """Rows of byte codes (n, width) as a string array, without a Python loop over rows."""
    n, width = codes.shape
    data = np.ascontiguousarray(codes, dtype=np.uint8).tobytes()
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def generate(
    n: int,
    days: int,
    sites: int,
    end: float,
    seed: int = 0,
    alphabet: bytes | None = None,
    plate_len: int = 7,
) -> pa.Table:
    """n reads spread over `days` days before `end` at `sites` sites (2 cameras each), with a
    `site` column beside the index SCHEMA. A small alphabet makes patterns match often (tests)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    ids = np.empty((n, 36), np.uint8)
    cols = [i for i in range(36) if i not in (8, 13, 18, 23)]
    ids[:, [8, 13, 18, 23]] = ord("-")
    ids[:, cols[0::2]] = HEX[raw >> 4]
    ids[:, cols[1::2]] = HEX[raw & 15]
    read_id = _strings(ids)
    letters = np.frombuffer(alphabet, np.uint8) if alphabet else ALNUM
    plate_codes = letters[rng.integers(0, len(letters), (n, plate_len))]
    plate = _strings(plate_codes)
    alt_codes = plate_codes.copy()
    alt_codes[:, 2] = letters[rng.integers(0, len(letters), n)]
    captured_us = (end * 1e6 - rng.random(n) * days * 86400e6).astype(np.int64)
    site_i = rng.integers(0, sites, n)
    cam_i = site_i * 2 + rng.integers(0, 2, n)
    site_names = np.array([f"site-{i:02d}" for i in range(sites)], dtype=object)
    cam_names = np.array([f"cam-{i:03d}" for i in range(sites * 2)], dtype=object)
    site_lat = 40.0 + rng.random(sites) * 0.3
    site_lon = -88.3 + rng.random(sites) * 0.4
    cam_lat = np.repeat(site_lat, 2) + rng.normal(0, 0.0003, sites * 2)
    cam_lon = np.repeat(site_lon, 2) + rng.normal(0, 0.0003, sites * 2)
    cam_heading = rng.integers(0, 360, sites * 2).astype(np.float32)
    day_i = captured_us // 86_400_000_000
    day_names = np.array(
        [
            time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
            for d in range(day_i.min(), day_i.max() + 1)
        ],
        dtype=object,
    )
    dt = pa.array(day_names[day_i - day_i.min()], pa.string())
    site = pa.array(site_names[site_i], pa.string())
    camera = pa.array(cam_names[cam_i], pa.string())
    state = pa.array(STATES[rng.integers(0, len(STATES), n)], pa.string())
    state = pc.if_else(pc.equal(state, ""), pa.nulls(n, pa.string()), state)
    base = pc.binary_join_element_wise(
        "reads/dt=", dt, "/site=", site, "/camera=", camera, "/", read_id, ""
    )
    alternates = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32)),
        pa.StructArray.from_arrays(
            [_strings(alt_codes), pa.array(rng.random(n).astype(np.float32) * 0.2)],
            fields=list(ALTERNATE),
        ),
    )
    columns = {
        "read_id": read_id,
        "plate": plate,
        "state": state,
        "confidence": pa.array((0.5 + rng.random(n) * 0.5).astype(np.float32)),
        "captured": pa.array(captured_us, pa.timestamp("us", tz="UTC")),
        "camera": camera,
        "lat": pa.array(cam_lat[cam_i]),
        "lon": pa.array(cam_lon[cam_i]),
        "heading": pa.array(cam_heading[cam_i]),
        "image_key": pc.binary_join_element_wise(base, ".jpg", ""),
        "crop_key": pc.binary_join_element_wise(base, ".json", ""),
        "alternates": alternates,
    }
    table = pa.table(columns, schema=SCHEMA)
    return table.append_column("site", site).append_column("dt", dt)


def write_partitions(target: Target, table: pa.Table) -> int:
    """One part per (day, site), as the index is after daily compaction; returns the file count."""
    order = pc.sort_indices(table, [("dt", "ascending"), ("site", "ascending")])
    table = table.take(order)
    key = pc.binary_join_element_wise(table["dt"], table["site"], "/").to_numpy(
        zero_copy_only=False
    )
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    bounds = np.r_[starts, len(key)]

    def put(ab: tuple[int, int]) -> None:
        a, b = ab
        day, site = str(key[a]).split("/")
        part = table.slice(a, b - a)
        target.put(f"{partition_prefix(day, site)}part-bench.parquet", parquet_bytes(part))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, itertools.pairwise(int(x) for x in bounds)))
    return len(starts)


def _timed(source: Any, f: Any, runs: int) -> dict[str, Any]:
    from cloud.query import search

    search(source, f, threads=1)  # warm: connections, imports
    times, result = [], None
    for _ in range(runs):
        result = search(source, f, threads=1)
        times.append(result.stats.seconds)
    assert result is not None
    return {
        "median_s": round(float(np.median(times)), 3),
        "best_s": round(min(times), 3),
        "reads_found": len(result.rows),
        "files_read": result.stats.files_read,
        "files_scanned": result.stats.files_scanned,
    }


def bench_search(args: argparse.Namespace) -> dict[str, Any]:
    import pyarrow as pa_mod

    from cloud.query import Filters, source_for
    from cloud.storage import S3Target, s3_client

    pa_mod.set_cpu_count(1)
    script = Path(__file__).resolve().parents[1] / "s3-local"
    end = time.time()
    out: dict[str, Any] = {"reads": args.reads, "days": 30, "sites": 50}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rgw"
        started = subprocess.run(
            [str(script), "start", str(data), "--port", str(args.s3_port)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if started.returncode != 0:
            raise SystemExit(f"alpr bench search: tools/s3-local failed:\n{started.stderr[-2000:]}")
        try:
            info = json.loads((data / "s3.json").read_text())
            client = s3_client(info["endpoint"], info["access_key"], info["secret_key"])
            client.create_bucket(Bucket="bench")
            target = S3Target("bench", client, "s3://bench")
            t0 = time.perf_counter()
            table = generate(args.reads, 30, 50, end, seed=1)
            out["generate_s"] = round(time.perf_counter() - t0, 1)
            t1 = time.perf_counter()
            out["files"] = write_partitions(target, table)
            out["write_s"] = round(time.perf_counter() - t1, 1)
            sample = table.slice(len(table) // 2, 1).to_pylist()[0]
            del table
            source = source_for(
                "s3://bench", info["endpoint"], info["access_key"], info["secret_key"]
            )
            start = end - 30 * 86400
            partial = sample["plate"][:3] + "*" + sample["plate"][-2:]
            day0 = calendar.timegm(time.strptime(sample["dt"], "%Y-%m-%d"))
            out["partial_plate_30_days"] = {
                "plate": partial,
                **_timed(source, Filters(plate=partial, start=start, end=end + 1), args.n_search),
            }
            out["exact_plate_1_site_1_day"] = {
                "plate": sample["plate"],
                **_timed(
                    source,
                    Filters(
                        plate=sample["plate"],
                        start=day0,
                        end=day0 + 86400,
                        sites=(sample["site"],),
                    ),
                    args.n_search,
                ),
            }
        finally:
            subprocess.run([str(script), "stop", str(data)], capture_output=True, timeout=300)
    return out
