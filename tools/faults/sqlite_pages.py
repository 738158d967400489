"""Damage one page of a real SQLite file the way a failing disk does: a torn or garbled sector.

The page is a leaf from the middle of a table's b-tree (found with SQLite's `dbstat` table), never
the file header on page 1, and its first 512-byte sector (the b-tree page header, the cell
pointers and the first cells) is overwritten with random bytes.
"""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

SECTOR = 512


class NoSuchPage(RuntimeError):
    """The table has no leaf page past the first one (too few rows to damage its middle)."""


def table_leaves(db_path: Path, table: str) -> list[int]:
    """The table's leaf page numbers in b-tree order; also checkpoints the WAL into the file, so
    that what is damaged is what the next reader reads."""
    db = sqlite3.connect(db_path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return [
            int(r[0])
            for r in db.execute(
                "SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf' ORDER BY path",
                (table,),
            )
        ]
    finally:
        db.close()


def corrupt_page(db_path: Path, table: str, rng: random.Random) -> int:
    """Overwrite the first sector of a leaf page from the middle of `table`; returns its number."""
    leaves = [p for p in table_leaves(db_path, table) if p > 1]
    if len(leaves) < 3:
        raise NoSuchPage(f"{table} in {db_path} has {len(leaves)} leaf pages; add rows first")
    page = leaves[len(leaves) // 4 + rng.randrange(len(leaves) // 2)]
    with sqlite3.connect(db_path) as db:
        page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
    db.close()
    fd = os.open(db_path, os.O_WRONLY)
    try:
        os.pwrite(fd, rng.randbytes(SECTOR), (page - 1) * page_size)
        os.fsync(fd)
    finally:
        os.close(fd)
    return page
