"""Search over the Parquet index: filters against a brute force, partition pruning, compaction seen
mid-way, the sync hook, the real RGW, Spark over the same files, and the CLI's refusals and audit."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pyotp
import pytest
from argon2 import PasswordHasher

from cloud import index
from cloud.query import EARTH_RADIUS_M, Filters, IndexSource, normalise_plate, search, source_for
from cloud.storage import FileTarget, S3Target
from gateway.access import audit, users
from gateway.access.db import AccessDB
from tools.bench.search import generate
from tools.cli import main

END = 1_790_000_000.0  # a fixed instant: the generated month ends here
DAYS, SITES = 4, 3


def split_parts(target: FileTarget, table: pa.Table, batches: int = 3) -> None:
    """As sync leaves it: several small parts per partition."""
    step = math.ceil(table.num_rows / batches)
    for i in range(batches):
        index.write_parts(target, table.slice(i * step, step))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("index")
    table = generate(1500, DAYS, SITES, END, seed=3, alphabet=b"AB12", plate_len=4)
    split_parts(FileTarget(root), table)
    rows = table.to_pylist()
    for r in rows:
        r["captured"] = r["captured"].timestamp()
    return root, rows


def brute(rows: list[dict[str, Any]], f: Filters) -> set[str]:
    """The same filters, one row at a time in Python."""
    out = set()
    for r in rows:
        if f.plate is not None:
            rx = "^" + re.escape(f.plate).replace(r"\?", ".").replace(r"\*", ".*") + "$"
            if not re.match(rx, r["plate"]):
                continue
        if f.start is not None and r["captured"] < f.start:
            continue
        if f.end is not None and r["captured"] >= f.end:
            continue
        if f.sites and r["site"] not in f.sites:
            continue
        if f.cameras and r["camera"] not in f.cameras:
            continue
        if f.state is not None and r["state"] != f.state:
            continue
        if f.near is not None:
            lat, lon, radius = f.near
            p1, p2 = math.radians(lat), math.radians(r["lat"])
            a = (
                math.sin((p2 - p1) / 2) ** 2
                + math.cos(p1) * math.cos(p2) * math.sin(math.radians(r["lon"] - lon) / 2) ** 2
            )
            if 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a)) > radius:
                continue
        out.add(r["read_id"])
    return out


def cases(rows: list[dict[str, Any]]) -> list[Filters]:
    some = rows[7]
    day = END - 2 * 86400
    return [
        Filters(plate=some["plate"]),
        Filters(plate="A?1*"),
        Filters(plate="*B2", start=END - 86400 * 1.5, end=END - 3600),
        Filters(start=day, end=day + 86400, sites=("site-01",)),
        Filters(plate="1*", sites=("site-00", "site-02"), cameras=(some["camera"],)),
        Filters(state="IL", plate="B*"),
        Filters(near=(some["lat"], some["lon"], 2000.0)),
        Filters(near=(some["lat"], some["lon"], 30.0), plate="*A*"),
        Filters(plate="ZZZ9"),
    ]


def test_filters_match_brute_force(corpus: tuple[Path, list[dict[str, Any]]]) -> None:
    root, rows = corpus
    source = source_for(f"file://{root}")
    nonempty = 0
    for f in cases(rows):
        got = search(source, f).rows
        ids = [r["read_id"] for r in got]
        assert len(ids) == len(set(ids)), f"{f}: a read listed twice"
        assert set(ids) == brute(rows, f), f"{f}: differs from the brute force"
        nonempty += bool(ids)
        assert [r["captured"] for r in got] == sorted(r["captured"] for r in got)
    assert nonempty >= 7, "the cases must actually find reads"


def test_plates_are_normalised_and_checked() -> None:
    assert normalise_plate(" ab-c 12?* ") == "ABC12?*"
    for bad, word in (("AB_1", "'_'"), ("***", "at least one"), (" - ", "empty")):
        with pytest.raises(ValueError, match=re.escape(word)):
            normalise_plate(bad)


class Counting(pafs.FileSystemHandler):
    """A local filesystem that counts the files opened for reading."""

    def __init__(self) -> None:
        self.fs = pafs.LocalFileSystem()
        self.opened: list[str] = []

    def get_type_name(self) -> str:
        return "counting"

    def equals(self, other: Any) -> bool:
        return self is other

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return list(self.fs.get_file_info(paths))

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return list(self.fs.get_file_info(selector))

    def open_input_file(self, path: str) -> Any:
        self.opened.append(path)
        return self.fs.open_input_file(path)

    def open_input_stream(self, path: str) -> Any:
        self.opened.append(path)
        return self.fs.open_input_stream(path)

    def normalize_path(self, path: str) -> str:
        return path

    def create_dir(self, path: str, recursive: bool) -> None: ...
    def delete_dir(self, path: str) -> None: ...
    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None: ...
    def delete_root_dir_contents(self) -> None: ...
    def delete_file(self, path: str) -> None: ...
    def move(self, src: str, dest: str) -> None: ...
    def copy_file(self, src: str, dest: str) -> None: ...
    def open_output_stream(self, path: str, metadata: Any = None) -> Any: ...
    def open_append_stream(self, path: str, metadata: Any = None) -> Any: ...


def test_partition_pruning_opens_only_the_partitions_searched(
    corpus: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, rows = corpus
    handler = Counting()
    source = IndexSource(pafs.PyFileSystem(handler), str(root))
    some = rows[11]
    day = dt.datetime.fromtimestamp(some["captured"], dt.UTC).date()
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
    f = Filters(plate=some["plate"], start=start, end=start + 86400, sites=(some["site"],))
    result = search(source, f)
    assert some["read_id"] in {r["read_id"] for r in result.rows}
    wanted = f"{root}/index/dt={day.isoformat()}/site={some['site']}/"
    assert handler.opened, "the search read nothing"
    assert all(p.startswith(wanted) for p in handler.opened), handler.opened
    assert result.stats.files_listed == len(
        index.list_parts(FileTarget(root), day.isoformat(), some["site"])
    )


def test_reader_sees_each_read_once_in_the_middle_of_a_compaction(
    corpus: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    src_root, rows = corpus
    root = tmp_path / "copy"
    shutil.copytree(src_root, root)
    target = FileTarget(root)
    part = index.list_parts(target)[0]
    siblings = index.list_parts(target, part.day, part.site)
    assert len(siblings) > 1
    # the first half of a compaction: the merged part written, the old parts not yet deleted
    merged = pa.concat_tables([pq.read_table(root / p.key, schema=index.SCHEMA) for p in siblings])
    key = f"{index.partition_prefix(part.day, part.site)}part-cmid.parquet"
    target.put(key, index.parquet_bytes(merged))
    f = Filters(sites=(part.site,))
    got = [r["read_id"] for r in search(source_for(f"file://{root}"), f).rows]
    assert len(got) == len(set(got)) == len(brute(rows, f))
    # the compaction itself: one part per partition, the same reads
    done = index.compact(target)
    assert done and all(len(index.list_parts(target, c.day, c.site)) == 1 for c in done)
    again = [r["read_id"] for r in search(source_for(f"file://{root}"), f).rows]
    assert sorted(again) == sorted(got)


class Vanishing(IndexSource):
    """Lists one part that is gone by the time it is read, once: a compaction just deleted it."""

    def list(self, prefix: str) -> list[tuple[str, int]]:
        found = super().list(prefix)
        if not getattr(self, "done", False) and found:
            object.__setattr__(self, "done", True)
            return [*found, (found[0][0].replace("part-", "part-gone"), found[0][1])]
        return found


def test_a_part_deleted_under_the_reader_makes_it_list_again(
    corpus: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, rows = corpus
    f = Filters(plate="A*")
    got = search(Vanishing(pafs.LocalFileSystem(), str(root)), f).rows
    assert {r["read_id"] for r in got} == brute(rows, f)


def test_sync_writes_the_index_and_search_finds_the_read(tmp_path: Path) -> None:
    from gateway_helpers import load_config
    from sync_helpers import make_read

    from gateway.store import Store
    from gateway.sync import Syncer

    config = load_config(tmp_path)
    store = Store(config.data_dir)
    target = FileTarget(tmp_path / "store")
    ids = {make_read(store, text="7ABC123", seed=i) for i in range(3)}
    assert Syncer(config, store, target).sync_once().synced == 3
    parts = index.list_parts(target)
    assert parts, "sync wrote no index part"
    found = search(source_for(target.url), Filters(plate="7ABC*")).rows
    assert {r["read_id"] for r in found} == ids
    assert all(target.head(r["image_key"]) and target.head(r["crop_key"]) for r in found)


def test_same_rows_from_the_real_rgw(
    corpus: tuple[Path, list[dict[str, Any]]], rgw: dict[str, str]
) -> None:
    from s3local import s3_client

    root, rows = corpus
    client = s3_client(rgw)  # type: ignore[arg-type]
    name = f"idx-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    target = S3Target(name, client, f"s3://{name}")
    for p in index.list_parts(FileTarget(root)):
        target.put(p.key, (root / p.key).read_bytes())
    source = source_for(
        f"s3://{name}", rgw["endpoint"], rgw["access_key"], rgw["secret_key"], rgw["region"]
    )
    for f in cases(rows)[:4]:
        assert {r["read_id"] for r in search(source, f).rows} == brute(rows, f), f
    done = index.compact(target)
    assert done and len(index.list_parts(target)) == len(done)
    f = Filters(plate="A?1*")
    assert {r["read_id"] for r in search(source, f).rows} == brute(rows, f)


def test_spark_reads_the_same_files_and_finds_the_same_rows(
    corpus: tuple[Path, list[dict[str, Any]]],
) -> None:
    if shutil.which("java") is None:
        pytest.skip("no Java runtime: `make test` installs openjdk-17-jre-headless for Spark")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.skip("pyspark is not installed (it is in the dev extra)")
    root, _ = corpus
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("alpr-search-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    try:
        spark.read.option("basePath", str(root / "index")).parquet(
            str(root / "index")
        ).createOrReplaceTempView("reads")
        start, end = END - 3 * 86400, END - 3600
        sql = (
            "SELECT DISTINCT read_id FROM reads WHERE plate LIKE 'A_1%'"
            f" AND captured >= timestamp_seconds({start}) AND captured < timestamp_seconds({end})"
            " AND site IN ('site-00', 'site-02')"
        )
        spark_ids = {r.read_id for r in spark.sql(sql).collect()}
    finally:
        spark.stop()
    f = Filters(plate="A?1*", start=start, end=end, sites=("site-00", "site-02"))
    duck_ids = {r["read_id"] for r in search(source_for(f"file://{root}"), f).rows}
    assert duck_ids and spark_ids == duck_ids


# --- the command line -------------------------------------------------------------------------

PASSWORD = "correct horse battery"


class Desk:
    """A deployment whose storage holds the index, and users with their own token files."""

    def __init__(self, root: Path, extra: str = "") -> None:
        self.root = root
        self.config = root / "alpr.toml"
        self.config.write_text(
            '[agency]\nname = "Test PD"\nretention_days = 3650\n[gateway]\ndata_dir = "data"\n'
            '[storage]\ntarget = "file://store"\n' + extra
        )
        (root / "pw").write_text(PASSWORD + "\n")
        self.secrets: dict[str, str] = {}

    def run(self, *args: str, as_user: str = "none") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        os.environ["ALPR_TOKEN_FILE"] = str(self.root / f"token-{as_user}")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
                err.write(str(exc.code))
        return code, out.getvalue(), err.getvalue()

    def ok(self, *args: str, as_user: str = "none") -> str:
        code, out, err = self.run(*args, as_user=as_user)
        assert code == 0, err
        return out

    def add(self, name: str, role: str, by: str = "boss", bootstrap: bool = False) -> None:
        later = (dt.date.today() + dt.timedelta(days=200)).isoformat()
        out = self.ok(
            "users", "add", name, "--config", str(self.config), "--role", role,
            "--trained-on", "2026-01-01", "--training-expires", later,
            "--password-file", str(self.root / "pw"), *(["--bootstrap"] if bootstrap else []),
            as_user=by,
        )  # fmt: skip
        m = re.search(r"secret: (\w+)", out)
        if m:
            self.secrets[name] = m.group(1)
        code = ["--totp", pyotp.TOTP(self.secrets[name]).now()] if name in self.secrets else []
        self.ok("login", name, "--config", str(self.config),
                "--password-file", str(self.root / "pw"), *code, as_user=name)  # fmt: skip

    def search(self, *args: str, as_user: str = "kim") -> tuple[int, str, str]:
        return self.run("search", *args, "--config", str(self.config), as_user=as_user)

    def records(self) -> list[dict[str, Any]]:
        db = AccessDB(self.root / "data")
        return [dict(r) for r in db.connect().execute("SELECT * FROM audit ORDER BY seq")]


@pytest.fixture(scope="module")
def desk(
    tmp_path_factory: pytest.TempPathFactory, corpus: tuple[Path, list[dict[str, Any]]]
) -> Iterator[Desk]:
    saved = os.environ.get("ALPR_TOKEN_FILE")
    cheap = pytest.MonkeyPatch()
    cheap.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    d = Desk(tmp_path_factory.mktemp("desk"))
    shutil.copytree(corpus[0], d.root / "store")
    d.add("boss", "admin", by="none", bootstrap=True)
    d.add("kim", "investigator")
    d.add("mo", "manager")
    d.add("ofc", "officer")
    yield d
    cheap.undo()
    if saved is None:
        os.environ.pop("ALPR_TOKEN_FILE", None)
    else:
        os.environ["ALPR_TOKEN_FILE"] = saved


def test_search_without_purpose_or_case_is_refused_and_logged(desk: Desk) -> None:
    code, out, err = desk.search("--plate", "A*", "--case", "26-0042")
    assert code != 0 and "--purpose is one of the configured purposes" in err and not out
    code, out, err = desk.search("--plate", "A*", "--purpose", "curiosity", "--case", "1")
    assert code != 0 and "'curiosity' is not one of" in err and "AMBER alert" in err
    code, out, err = desk.search(
        "--plate", "A*", "--purpose", "stolen vehicle", "--reason", "short"
    )
    assert code != 0 and "at least 20 characters" in err and not out
    refused = [r for r in desk.records() if r["action"] == "search refused"]
    assert len(refused) == 3 and all(r["user"] == "kim" for r in refused)
    code, _, err = desk.search(
        "--plate", "A*", "--purpose", "stolen vehicle", "--case", "1", as_user="ofc"
    )
    assert code != 0 and "refused" in err and "reads.history" in err


def test_search_prints_reads_and_writes_the_audit_record(
    desk: Desk, corpus: tuple[Path, list[dict[str, Any]]]
) -> None:
    _, rows = corpus
    code, out, err = desk.search(
        "--plate", "a-?1*", "--site", "site-01", "--purpose", "stolen vehicle", "--case", "26-0042"
    )
    assert code == 0, err
    want = brute(rows, Filters(plate="A?1*", sites=("site-01",)))
    lines = out.splitlines()
    assert want and len(lines) == len(want)
    assert all(".jpg" in line and ".json" in line and "site-01/" in line for line in lines)
    last = desk.records()[-1]
    assert last["user"] == "kim" and last["kind"] == "inquiry" and last["action"] == "search"
    assert last["result_count"] == len(want) and "case 26-0042" in last["why"]
    assert '"plate":"A?1*"' in last["what"] and '"sites":["site-01"]' in last["what"]
    assert audit.verify(AccessDB(desk.root / "data")).ok


def test_search_with_supervisor_approval(desk: Desk, tmp_path: Path) -> None:
    approving = Desk(tmp_path, '[search]\napproval = "supervisor"\npurposes = ["missing person"]\n')
    shutil.copytree(desk.root / "data", tmp_path / "data")
    shutil.copytree(desk.root / "store", tmp_path / "store")
    for name in ("kim", "mo"):
        shutil.copy(desk.root / f"token-{name}", tmp_path / f"token-{name}")
    why = ("--purpose", "missing person", "--reason", "welfare check, family report 5 Dec")
    code, out, err = approving.search("--plate", "B*", *why)
    assert code == 0, err
    rid = re.search(r"search request (\d+)", out)
    assert rid, out
    n = rid.group(1)
    code, _, err = approving.search("run", n)
    assert code != 0 and "pending, not approved" in err
    code, _, err = approving.search("approve", n)
    assert code != 0 and "refused" in err
    code, _, err = approving.search("approve", n, as_user="mo")
    assert code == 0, err
    code, out, err = approving.search("run", n)
    assert code == 0 and out.strip(), err
    code, _, err = approving.search("run", n)
    assert code != 0 and "is done" in err
    actions = [r["action"] for r in approving.records()]
    assert actions[-4:] == ["search request", "denied", "search approved", "search"]


def test_open_fetches_the_files_and_is_audited(tmp_path: Path) -> None:
    from gateway_helpers import load_config
    from sync_helpers import make_read

    from gateway.store import Store
    from gateway.sync import Syncer

    saved = os.environ.get("ALPR_TOKEN_FILE")
    cheap = pytest.MonkeyPatch()
    cheap.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        d = Desk(tmp_path)
        (tmp_path / "gw").mkdir()
        config = load_config(tmp_path / "gw")
        store = Store(config.data_dir)
        read_id = make_read(store, text="9XYZ987")
        Syncer(config, store, FileTarget(tmp_path / "store")).sync_once()
        d.add("boss", "admin", by="none", bootstrap=True)
        d.add("kim", "investigator")
        out_dir = tmp_path / "out"
        code, _, err = d.search("open", read_id, "--out", str(out_dir),
                                  "--purpose", "wanted person", "--case", "26-7")  # fmt: skip
        assert code == 0, err
        assert (out_dir / f"{read_id}.jpg").read_bytes()[:2] == b"\xff\xd8"
        assert (out_dir / f"{read_id}-plate.jpg").read_bytes()[:2] == b"\xff\xd8"
        last = d.records()[-1]
        assert last["action"] == "search open" and read_id in last["what"]
        assert last["result_count"] == 1 and "case 26-7" in last["why"]
    finally:
        cheap.undo()
        if saved is None:
            os.environ.pop("ALPR_TOKEN_FILE", None)
        else:
            os.environ["ALPR_TOKEN_FILE"] = saved
