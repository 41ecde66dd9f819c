"""The worker's periodic pass over run records: archive finished runs, forget those past retention."""

from __future__ import annotations

import os

from jobs.records.archive import archive_finished_runs
from jobs.upkeep.retention import remove_old_runs

TIDY_LOCK = "codexbot:janitor:tidy"
TIDY_LOCK_SECONDS = 600


def tidy_runs(conn, data_dir: str, retention_days: int, now: float | None = None) -> tuple[list[str], list[str]]:
    """The periodic pass over run records: archive finished runs' logs to disk, forget runs past retention.

    One worker at a time does it (two would archive a log twice); the others skip the pass. Returns
    (archived, removed) run ids; each list is bounded per pass, so a big backlog takes a few passes."""
    token = os.urandom(8).hex()
    if not conn.set(TIDY_LOCK, token, nx=True, ex=TIDY_LOCK_SECONDS):
        return [], []
    try:
        removed = remove_old_runs(conn, data_dir, retention_days, now)
        return archive_finished_runs(conn, data_dir, now), removed
    finally:
        if conn.get(TIDY_LOCK) == token.encode():
            conn.delete(TIDY_LOCK)
