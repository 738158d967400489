"""Errors a user can cause and fix: `alpr` prints their one-line message, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused request; the message names the problem and what to do about it."""
