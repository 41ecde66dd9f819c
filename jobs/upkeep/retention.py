"""Forget runs older than CODEXBOT_RETENTION_DAYS: their record, task, log, transcript, diff and archive."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from jobs.records import runs
from jobs.records.delegated import result_key
from jobs.intake.accept import task_key
from jobs.records.archive import remove_archive

BATCH = 500


def remove_old_runs(conn: redis.Redis, data_dir: str | Path, retention_days: int, now: float | None = None) -> list[str]:
    """Remove up to BATCH runs created more than retention_days ago, oldest first; 0 days keeps everything."""
    if retention_days <= 0:
        return []
    cutoff = (time.time() if now is None else now) - retention_days * 86_400
    removed = []
    for raw in conn.zrangebyscore(runs.ALL_RUNS, "-inf", cutoff, start=0, num=BATCH):
        run_id = raw.decode()
        remove_run(conn, data_dir, run_id)
        removed.append(run_id)
    return removed


def remove_run(conn: redis.Redis, data_dir: str | Path, run_id: str) -> None:
    """The archive goes first: a crash halfway leaves a record without a file, which a later pass removes."""
    run = runs.load_run(conn, run_id)
    remove_archive(data_dir, run_id)
    pipe = conn.pipeline()
    if run is not None and run.repo and run.number:
        pipe.lrem(runs.thread_key(run.trigger.get("forge", "github"), run.repo, run.number), 0, run_id)
    pipe.delete(runs.run_key(run_id), runs.log_key(run_id), runs.transcript_key(run_id), runs.diff_key(run_id),
                runs.phases_key(run_id), runs.cancel_key(run_id), task_key(run_id), result_key(run_id))
    pipe.zrem(runs.ALL_RUNS, run_id)
    pipe.execute()
