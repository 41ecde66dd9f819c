"""The JSON API under /api/ that `codexbot delegate`, `runs`, `status`, `logs`, `cancel` and `apply` talk to."""

from __future__ import annotations

from bot.api import openapi, routes  # noqa: F401  (importing them registers the routes on bp)
from bot.api.blueprint import bp

__all__ = ["bp"]
