"""A run's log, transcript, diff and phases for the pages, wherever they are now: Redis or the archive."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from jobs.records import runs
from jobs.records.archive import read_archive


class RunParts:
    """Reads one run's parts; the archive file is opened at most once per instance."""

    def __init__(self, conn: redis.Redis, data_dir: str | Path, run_id: str):
        self.conn, self.data_dir, self.run_id = conn, data_dir, run_id
        self._archive: dict | None = None

    def archive(self) -> dict:
        if self._archive is None:
            archived = self.conn.hget(runs.run_key(self.run_id), "archived") == b"1"
            self._archive = read_archive(self.data_dir, self.run_id) if archived else {}
        return self._archive

    def log(self, start: int = 0) -> list[str]:
        """Lines from index `start`: the archived ones, then any still in Redis."""
        archived = self.archive().get("log", [])
        if start < len(archived):
            return archived[start:] + runs.read_log(self.conn, self.run_id)
        return runs.read_log(self.conn, self.run_id, start - len(archived))

    def transcript(self) -> dict | None:
        raw = self.conn.get(runs.transcript_key(self.run_id))
        return json.loads(raw) if raw else self.archive().get("transcript")

    def diff(self) -> str:
        raw = self.conn.get(runs.diff_key(self.run_id))
        return raw.decode("utf-8", "replace") if raw else self.archive().get("diff", "")

    def phases(self) -> list[tuple[str, float]]:
        archived = [(item["phase"], float(item["at"])) for item in self.archive().get("phases", [])]
        return archived + runs.read_phases(self.conn, self.run_id)


def timeline(phases: list[tuple[str, float]], created_at: float, finished_at: float | None,
             now: float) -> list[dict]:
    """Each phase with when it began and how long it lasted (the last one until the end, or until now)."""
    entries = [("queued", created_at)] + [(name, at) for name, at in phases if at >= created_at]
    merged: list[tuple[str, float]] = []
    for name, at in entries:
        if not merged or merged[-1][0] != name:
            merged.append((name, at))
    end = finished_at if finished_at is not None else now
    out = []
    for i, (name, at) in enumerate(merged):
        until = merged[i + 1][1] if i + 1 < len(merged) else end
        out.append({"phase": name, "at": at, "seconds": max(until - at, 0.0),
                    "current": finished_at is None and i == len(merged) - 1})
    return out
