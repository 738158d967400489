"""Moved to gateway/evidence_hold.py (the web console places holds too); kept for old imports."""

from gateway.evidence_hold import PART_RE, hold_read, locate

__all__ = ["PART_RE", "hold_read", "locate"]
