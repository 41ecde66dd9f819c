"""Finished runs' logs, transcripts and diffs moved from Redis to one gzip file per run in the data dir.

Redis keeps the small run record; what grows with a run's length lives on disk once the run is over, so
Redis memory stays bounded. Readers see the archive followed by anything still in Redis, so a line
logged after archiving (cleanup notes) is neither lost nor repeated.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from pathlib import Path

import redis

from jobs.records.runs import ALL_RUNS, FINAL, diff_key, load_run, log_key, phases_key, run_key, transcript_key

ARCHIVE_AFTER = 300  # seconds after a run finished: its last cleanup lines have landed by then
SCAN_BATCH = 500
CURSOR = "codexbot:archive:cursor"  # creation time of the oldest run that may still need archiving


def archive_path(data_dir: str | Path, run_id: str) -> Path:
    return Path(data_dir) / "runs" / run_id[:2] / f"{run_id}.json.gz"


def read_archive(data_dir: str | Path, run_id: str) -> dict:
    """The archived parts of a run ({} when it has none): log, transcript, diff, phases."""
    try:
        with gzip.open(archive_path(data_dir, run_id), "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # cut off or damaged on disk: say so, do not fail the page
        return {"log": [f"[codexbot: the archived log of this run cannot be read ({type(exc).__name__})]"]}
    return data if isinstance(data, dict) else {}


def archive_run(conn: redis.Redis, data_dir: str | Path, run_id: str) -> None:
    """Write the run's log, transcript, diff and phases to its archive (merged with an earlier one), then
    drop them from Redis. The file is complete on disk before anything leaves Redis."""
    old = read_archive(data_dir, run_id)
    raw_log, transcript, diff, phases = _redis_parts(conn, run_id)
    data = {"log": old.get("log", []) + [line.decode("utf-8", "replace") for line in raw_log],
            "transcript": json.loads(transcript) if transcript else old.get("transcript"),
            "diff": diff.decode("utf-8", "replace") if diff else old.get("diff", ""),
            "phases": old.get("phases", []) + [json.loads(item) for item in phases]}
    path = archive_path(data_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with gzip.open(partial, "wt", encoding="utf-8") as fh:
        json.dump(data, fh)
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, path)
    pipe = conn.pipeline()
    pipe.hset(run_key(run_id), "archived", "1")
    pipe.ltrim(log_key(run_id), len(raw_log), -1)  # lines appended meanwhile stay for the next pass
    pipe.ltrim(phases_key(run_id), len(phases), -1)
    pipe.delete(transcript_key(run_id), diff_key(run_id))
    pipe.execute()


def _redis_parts(conn: redis.Redis, run_id: str) -> tuple[list, bytes | None, bytes | None, list]:
    pipe = conn.pipeline()
    pipe.lrange(log_key(run_id), 0, -1)
    pipe.get(transcript_key(run_id))
    pipe.get(diff_key(run_id))
    pipe.lrange(phases_key(run_id), 0, -1)
    return tuple(pipe.execute())  # type: ignore[return-value]


def archive_finished_runs(conn: redis.Redis, data_dir: str | Path, now: float | None = None,
                          after: float = ARCHIVE_AFTER) -> list[str]:
    """Archive runs that finished at least `after` seconds ago, oldest first, at most SCAN_BATCH a pass."""
    now = time.time() if now is None else now
    start = float(conn.get(CURSOR) or 0)
    archived, cursor_moves = [], True
    for raw, created in conn.zrangebyscore(ALL_RUNS, start, "+inf", start=0, num=SCAN_BATCH, withscores=True):
        run_id = raw.decode()
        run = load_run(conn, run_id)
        done = run is None or conn.hget(run_key(run_id), "archived") == b"1"
        if not done and run.status in FINAL and (run.finished_at or 0) <= now - after:
            archive_run(conn, data_dir, run_id)
            archived.append(run_id)
            done = True
        if not done:
            cursor_moves = False  # this run comes back next pass, and so does everything after it
        elif cursor_moves:
            conn.set(CURSOR, repr(created))
    return archived


def remove_archive(data_dir: str | Path, run_id: str) -> None:
    archive_path(data_dir, run_id).unlink(missing_ok=True)
