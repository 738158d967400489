"""The disk-full row where no tmpfs can be mounted: the full disk is injected into a gateway in
this process (statvfs reads 0 free, event writes fail with ENOSPC), over HTTP on loopback. The
tmpfs form and the corrupt-page row run in `alpr faults --short` (tests/test_faults.py)."""

from __future__ import annotations

from pathlib import Path

from tools.faults import disk_full


def test_injected_disk_full_loses_nothing_and_alerts(tmp_path: Path) -> None:
    row = disk_full.injected(tmp_path, 1, 0.3)
    assert row.injected == 2 and row.acknowledged > 0
    assert row.lost == 0 and row.duplicated == 0, row.detail
    assert row.detail["answers_5xx"].get(507, 0) > 0, "the cameras were never told 507"
    assert row.detail["alerts"].get("disk-full") == 2, row.detail["alerts"]
    assert "injected" in row.notes
