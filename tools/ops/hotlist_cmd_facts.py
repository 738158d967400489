"""What the audit log says of a hot-list entry: everything that names it but its plate."""

from __future__ import annotations

from typing import Any


def entry_facts(row: Any) -> dict[str, Any]:
    """Source, category, case number and expiry: the entry id and these name it in the record."""
    return {k: str(row[k]) for k in ("source", "category", "case_number", "expires")}
