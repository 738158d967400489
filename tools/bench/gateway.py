"""Gateway benchmarks: hot-list load and match rate, signed ingest throughput, capture-to-alert latency."""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import random
import resource
import statistics
import string
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gateway import hotlist
from gateway.store import Store

ALNUM = string.ascii_uppercase + string.digits


def rss_mb() -> float:
    """Current resident memory of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def random_plate(rng: random.Random) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(rng.randint(5, 7)))


def write_hotlist_csv(
    path: Path, n: int, rng: random.Random, wildcard_share: float = 0.001
) -> None:
    """n entries, a small share of them partial plates, as an agency's nightly file would hold."""
    expires = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    with open(path, "w") as f:
        f.write(",".join(hotlist.CSV_FIELDS) + "\n")
        for i in range(n):
            plate = random_plate(rng)
            if rng.random() < wildcard_share:
                plate = plate[:3] + "?" + plate[4:] if rng.random() < 0.5 else plate[:4] + "*"
            f.write(
                f"{plate},IL,stolen-vehicle,26-{i:06d},stolen,Det. Ray,dispatch,verify first,{expires}\n"
            )


def _load_and_match(db_dir: str, n_reads: int, out: Any) -> None:
    """In a fresh process, so that its memory is the matcher's and not the import's."""
    store = Store(Path(db_dir))
    rss_start = rss_mb()
    t0 = time.perf_counter()
    matcher = hotlist.Matcher(store.connect().execute("SELECT id, plate, expires FROM hotlist"))
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    rng = random.Random(2)
    reads = []
    for _ in range(n_reads):
        text = rng.choice(matcher.plates) if rng.random() < 0.01 else random_plate(rng)
        text = text.replace("?", "A").replace("*", "")
        reads.append((text, [text[:2] + rng.choice(ALNUM) + text[3:] for _ in range(2)]))
    today = dt.date.today()
    t1 = time.perf_counter()
    hits = sum(len(matcher.match(text, alts, today)) for text, alts in reads)
    match_s = time.perf_counter() - t1
    out.put(
        {
            "entries": len(matcher),
            "wildcard_entries": len(matcher.wild_regex),
            "load_s": round(load_s, 2),
            "process_rss_mb": round(rss_loaded, 1),
            "matcher_rss_mb": round(rss_loaded - rss_start, 1),
            "reads_matched": len(reads),
            "hits": hits,
            "reads_per_s": round(len(reads) / match_s),
        }
    )


def bench_hotlist(args: argparse.Namespace) -> dict[str, Any]:
    """Import n entries from a CSV file into the store; then, in a fresh process, load the matcher
    from the store (what the gateway does at start and after each import) and match reads."""
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "hot.csv"
        write_hotlist_csv(csv_path, args.entries, rng)
        store = Store(Path(tmp))
        errors: list[hotlist.LineError] = []
        t0 = time.perf_counter()
        store.replace_hotlist(
            "ncic", hotlist.iter_entries(csv_path.read_text(), "ncic", "csv", errors)
        )
        import_s = time.perf_counter() - t0
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        child = ctx.Process(target=_load_and_match, args=(tmp, args.reads, out))
        child.start()
        result: dict[str, Any] = out.get(timeout=600)
        child.join()
    return {"import_csv_s": round(import_s, 2), "rejected_lines": len(errors), **result}


def bench_config(tmp: Path, cameras: int, port: int, extra: str = "") -> Path:
    lines = [
        '[agency]\nname = "Bench PD"\n',
        f'[gateway]\nlisten = "127.0.0.1:{port}"\ndata_dir = "data"\n',
        '[[sites]]\nid = "s1"\nlat = 40.0\nlon = -88.0\n',
    ]
    for i in range(cameras):
        key = tmp / f"cam-{i:02d}.key"
        key.write_text(f"k{i}\n")
        key.chmod(0o600)
        lines.append(
            f'[[cameras]]\nid = "cam-{i:02d}"\nsite = "s1"\nheading = 0\nsecret = "file:{key.name}"\n'
        )
    path = tmp / "alpr.toml"
    path.write_text("\n".join(lines) + extra)
    return path


def _serve_ingest(config_path: str, ready: Any) -> None:
    from gateway.config import load
    from gateway.web import camera_server

    config = load(config_path)
    server = camera_server(config, Store(config.data_dir))
    ready.put(server.address[1])
    server.serve_forever()


def bench_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Signed 100 KB captures from 20 concurrent cameras to an ingest server in its own process."""
    import cv2
    import numpy as np

    from gateway import protocol
    from tools.field.camera_sim import CameraClient

    cameras, per_camera = 20, max(1, args.events // 20)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(noise, (3, 3), 0)
    for quality in range(50, 100, 5):  # the first quality that makes a frame of about 100 KB
        frame = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        if len(frame) >= 100_000:
            break
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(Path(tmp), cameras, 0)
        ctx = mp.get_context("spawn")
        ready = ctx.Queue()
        server = ctx.Process(target=_serve_ingest, args=(str(config), ready), daemon=True)
        server.start()
        port = ready.get(timeout=60)
        statuses: list[int] = []
        lock = threading.Lock()

        def camera(i: int) -> None:
            client = CameraClient(f"http://127.0.0.1:{port}", f"cam-{i:02d}", f"k{i}".encode())
            for seq in range(1, per_camera + 1):
                meta = {
                    "captured": time.time(),
                    "trigger": "radar",
                    "battery_v": 3.9,
                    "solar_v": 5.0,
                }
                status, _ = client.post(
                    protocol.EVENT_PATH,
                    protocol.encode_event(meta, [frame]),
                    seq,
                    protocol.EVENT_TYPE,
                )
                with lock:
                    statuses.append(status)
            client.close()

        threads = [threading.Thread(target=camera, args=(i,)) for i in range(cameras)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        server.terminate()
        server.join()
        stored = (
            Store(Path(tmp) / "data").connect().execute("SELECT count(*) FROM events").fetchone()[0]
        )
    accepted = sum(s == 201 for s in statuses)
    return {
        "cameras": cameras,
        "frame_kb": round(len(frame) / 1024, 1),
        "events_sent": len(statuses),
        "accepted": accepted,
        "stored": stored,
        "lost": accepted - stored,
        "seconds": round(elapsed, 2),
        "captures_per_s": round(accepted / elapsed, 1),
    }


def bench_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """Capture-to-alert latency: every scene's plate is on the hot list; time from capture to webhook."""
    import cv2

    from tools.demo import hotlist_csv, running_gateway, wait_until
    from tools.scenes import make_scene
    from tools.train.plates import random_text

    rng = random.Random(3)
    texts = [random_text(rng) for _ in range(args.events_pipeline)]
    frames = [
        cv2.imencode(".jpg", make_scene(rng, t)[0], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        for t in texts
    ]
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_gateway(Path(tmp), hotlist_csv(texts)) as (gw, sink),
    ):
        from tools.field.camera_sim import CameraClient

        host, port = gw.address
        camera = next(iter(gw.config.cameras))
        client = CameraClient(f"http://{host}:{port}", camera, gw.config.secret(camera))
        posts = []
        for seq, frame in enumerate(frames, 1):
            started = time.perf_counter()
            client.send_event(seq, [frame])
            posts.append((time.perf_counter() - started) * 1000)
            time.sleep(1.0 / args.rate)
        client.close()
        wait_until(lambda: gw.store.backlog() == 0, 120)
        wait_until(lambda: len(sink.arrivals) >= len(texts), 10)
        # per alert: capture to webhook, and the reader's own time on that event
        read_s = {event: seconds for w in gw.workers for event, seconds in w.durations}
        event_of = dict(gw.store.connect().execute("SELECT id, event_id FROM reads").fetchall())
        seq_of = dict(gw.store.connect().execute("SELECT id, sequence FROM events").fetchall())
        per_alert = []
        for arrived, p in sink.arrivals:
            event = event_of[p["read"]["id"]]
            total = (arrived - p["read"]["captured"]) * 1000
            per_alert.append((total, read_s[event] * 1000, posts[seq_of[event] - 1]))
    if not per_alert:
        return {"events": len(texts), "alerts": 0}
    latencies = sorted(total for total, _, _ in per_alert)
    reader = sorted(own for _, own, _ in per_alert)
    rest = sorted(total - own for total, own, _ in per_alert)
    handoffs = sorted(total - own - post for total, own, post in per_alert)
    return {
        "events": len(texts),
        "rate_per_s": args.rate,
        "alerts": len(latencies),
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        # beside it, the reader's own time (decode, localise, OCR, match, commit) on the same
        # events, and what is left: the camera's POST (fsyncs, commit), hand-offs, the webhook
        "reader_median_ms": round(statistics.median(reader), 1),
        "reader_p95_ms": round(percentile(reader, 0.95), 1),
        "not_reader_median_ms": round(statistics.median(rest), 1),
        "not_reader_p95_ms": round(percentile(rest, 0.95), 1),
        # of which the camera's POST until its 201: signing, upload, checks, fsyncs and commit
        "ingest_median_ms": round(statistics.median(posts), 1),
        "ingest_p95_ms": round(percentile(sorted(posts), 0.95), 1),
        # and the rest: ingest to reader, reader to alert delivery, the webhook itself
        "handoffs_median_ms": round(statistics.median(handoffs), 1),
        "handoffs_p95_ms": round(percentile(handoffs, 0.95), 1),
    }


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_sync(args: argparse.Namespace) -> dict[str, Any]:
    """Reads (100 KB best frame, plate crop, JSON) synced to a local Ceph RGW (tools/s3-local)."""
    import json
    import subprocess

    import cv2
    import numpy as np

    from cloud.durable import fsync_write
    from cloud.storage import S3Target, s3_client
    from gateway.config import parse
    from gateway.store import sha256
    from gateway.sync import Syncer

    script = Path(__file__).resolve().parents[1] / "s3-local"
    rng = np.random.default_rng(0)
    blurred = cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), (3, 3), 0)
    for quality in range(40, 100, 5):
        frame = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        if len(frame) >= 100_000:
            break
    crop = cv2.imencode(".jpg", blurred[:60, :120])[1].tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rgw"
        started = subprocess.run(
            [str(script), "start", str(data), "--port", str(args.s3_port)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if started.returncode != 0:
            raise SystemExit(f"alpr bench sync: tools/s3-local failed:\n{started.stderr[-2000:]}")
        try:
            info = json.loads((data / "s3.json").read_text())
            client = s3_client(info["endpoint"], info["access_key"], info["secret_key"])
            client.create_bucket(Bucket="bench", ObjectLockEnabledForBucket=True)
            config = parse({"agency": {"name": "Bench"}}, Path(tmp))
            store = Store(Path(tmp) / "gw")
            now = time.time()
            for i in range(args.reads_sync):
                rid = f"bench-{i:06d}"
                fsync_write(store.root / f"r/{rid}.jpg", frame)
                fsync_write(store.root / f"r/{rid}-plate.jpg", crop)
                store.connect().execute(
                    "INSERT INTO events (id, camera, sequence, captured, received, trigger, frames,"
                    " body_sha256, path, status, response) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (i + 1, "cam", i, now, now, "radar", 1, "x", "e", "read", "{}"),
                )
                store.connect().execute(
                    "INSERT INTO reads (id, event_id, camera, site, lat, lon, heading, captured, received,"
                    " text, confidence, alternates, box, frame_path, crop_path, frame_sha256, crop_sha256,"
                    " bytes, read_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        rid,
                        i + 1,
                        "cam",
                        "site",
                        40.0,
                        -88.0,
                        0.0,
                        now,
                        now,
                        "ABC123",
                        0.9,
                        "[]",
                        "[0,0,1,1]",
                        f"r/{rid}.jpg",
                        f"r/{rid}-plate.jpg",
                        sha256(frame),
                        sha256(crop),
                        len(frame) + len(crop),
                        now,
                    ),
                )
            syncer = Syncer(config, store, S3Target("bench", client, "s3://bench"))
            start = time.perf_counter()
            synced = 0
            while synced < args.reads_sync:
                stats = syncer.sync_once()
                if stats.failures:
                    raise SystemExit("alpr bench sync: uploads failed")
                synced += stats.synced
            elapsed = time.perf_counter() - start
        finally:
            subprocess.run([str(script), "stop", str(data)], capture_output=True, timeout=300)
    return {
        "target": "Ceph RGW 16.2 on loopback (tools/s3-local, memstore)",
        "reads": synced,
        "frame_kb": round(len(frame) / 1024),
        "seconds": round(elapsed, 2),
        "reads_per_s": round(synced / elapsed, 1),
    }
