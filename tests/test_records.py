"""Every look at reads and hits is logged by name, time and reason; purges leave a proof."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from gateway_helpers import write_config
from sync_helpers import make_read

from cloud.storage import FileTarget
from gateway.config import load
from gateway.store import Store
from gateway.sync import Syncer


def alpr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_reads_list_filters_and_logs_access(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = Store(load(config).data_dir)
    make_read(store, text="ABC123", captured=time.time() - 3600)
    make_read(store, text="XYZ789", seed=2)
    out = alpr(
        "reads",
        "list",
        "--json",
        "--plate",
        "AB?12*",
        "--user",
        "analyst.kim",
        "--reason",
        "case 26-0042",
        "--config",
        str(config),
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["ABC123"] and rows[0]["alternates"] == [["ABC12B", 0.05]]
    out = alpr(
        "reads",
        "list",
        "--json",
        "--since",
        str(time.time() - 60),
        "--user",
        "analyst.kim",
        "--reason",
        "case 26-0042",
        "--config",
        str(config),
    )
    assert [json.loads(line)["text"] for line in out.stdout.splitlines()] == ["XYZ789"]
    log = (
        store.connect()
        .execute("SELECT user, action, reason, results FROM access_log ORDER BY id")
        .fetchall()
    )
    assert [tuple(r) for r in log] == [
        ("analyst.kim", "reads list", "case 26-0042", 1),
        ("analyst.kim", "reads list", "case 26-0042", 1),
    ]


def test_purge_log_prints_proof(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load(path)
    store = Store(config.data_dir)
    make_read(store, captured=time.time() - 40 * 86400)
    Syncer(config, store, FileTarget(tmp_path / "store")).purge()
    out = alpr("purge-log", "--json", "--config", str(path))
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert (
        len(records) == 1
        and records[0]["count"] == 1
        and records[0]["reason"] == "past agency retention"
    )
    assert len(records[0]["ids_sha256"]) == 64
    text = alpr("purge-log", "--config", str(path)).stdout
    assert "1 purged" in text and records[0]["ids_sha256"] in text
