"""The JSON API under /api/ that `codexbot delegate`, `runs`, `status`, `logs`, `cancel` and `apply` talk to."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
