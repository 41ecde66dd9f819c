"""Finished runs' logs move to gzip files in the data dir; readers see the same lines; old runs are forgotten."""

import json
import time

from jobs.upkeep.tidy import tidy_runs
from jobs.records.archive import archive_path
from jobs.records.parts import RunParts
from jobs.records.runs import ALL_RUNS, append_log, load_run, record_phase, store_diff, transcript_key, update_run


def make_run(conn, run_id, *, status="succeeded", created=None, lines=3, finished_ago=3600):
    created = time.time() - 7200 if created is None else created
    conn.hset(f"codexbot:run:{run_id}", mapping={"status": "running", "repo": "o/r", "number": "1", "created_at": repr(created),
                                                 "trigger": json.dumps({"forge": "github"})})
    conn.zadd(ALL_RUNS, {run_id: created})
    conn.rpush("codexbot:thread:github:o/r#1", run_id)
    for n in range(lines):
        append_log(conn, run_id, f"line {n} <script>")
    record_phase(conn, run_id, "checking out", at=created + 1)
    store_diff(conn, run_id, "+x\n")
    conn.set(transcript_key(run_id), json.dumps({"steps": [{"step": 1}]}))
    if status != "running":
        update_run(conn, run_id, status=status, finished_at=time.time() - finished_ago)


def test_a_finished_run_is_archived_and_reads_the_same(redis_conn, tmp_path):
    make_run(redis_conn, "a" * 16)
    before = RunParts(redis_conn, tmp_path, "a" * 16)
    expected = (before.log(), before.diff(), before.transcript(), before.phases())
    archived, removed = tidy_runs(redis_conn, str(tmp_path), retention_days=90)
    assert archived == ["a" * 16] and removed == [] and archive_path(tmp_path, "a" * 16).is_file()
    assert redis_conn.exists(f"codexbot:run:{'a' * 16}:log", transcript_key("a" * 16), f"codexbot:run:{'a' * 16}:diff") == 0
    after = RunParts(redis_conn, tmp_path, "a" * 16)
    assert (after.log(), after.diff(), after.transcript(), after.phases()) == expected
    append_log(redis_conn, "a" * 16, "a cleanup note after archiving")
    [note] = RunParts(redis_conn, tmp_path, "a" * 16).log(3)  # an SSE reader resuming after line 2
    assert note.endswith("a cleanup note after archiving") and RunParts(redis_conn, tmp_path, "a" * 16).log()[:3] == expected[0]
    assert tidy_runs(redis_conn, str(tmp_path), retention_days=90) == ([], [])  # the cursor moved past it


def test_running_and_just_finished_runs_stay_in_redis(redis_conn, tmp_path):
    make_run(redis_conn, "b" * 16, status="running")
    make_run(redis_conn, "c" * 16, finished_ago=5)
    make_run(redis_conn, "d" * 16)
    assert tidy_runs(redis_conn, str(tmp_path), retention_days=90)[0] == ["d" * 16]
    update_run(redis_conn, "b" * 16, status="failed", finished_at=time.time() - 3600)
    assert sorted(tidy_runs(redis_conn, str(tmp_path), retention_days=90)[0]) == ["b" * 16]  # c is still too fresh


def test_runs_past_retention_are_removed_with_their_archive(redis_conn, tmp_path):
    make_run(redis_conn, "e" * 16, created=time.time() - 10 * 86400)
    make_run(redis_conn, "f" * 16)
    tidy_runs(redis_conn, str(tmp_path), retention_days=90)
    assert archive_path(tmp_path, "e" * 16).is_file()
    archived, removed = tidy_runs(redis_conn, str(tmp_path), retention_days=7)
    assert removed == ["e" * 16] and not archive_path(tmp_path, "e" * 16).exists()
    assert load_run(redis_conn, "e" * 16) is None and redis_conn.zscore(ALL_RUNS, "e" * 16) is None
    assert redis_conn.lrange("codexbot:thread:github:o/r#1", 0, -1) == [b"f" * 16]
    assert not redis_conn.keys("codexbot:run:" + "e" * 16 + "*") and load_run(redis_conn, "f" * 16) is not None


def test_redis_memory_stays_bounded_when_logs_are_archived(redis_conn, tmp_path):
    for n in range(40):
        make_run(redis_conn, f"{n:016x}", lines=200)
    before = stored_bytes(redis_conn)
    archived, _ = tidy_runs(redis_conn, str(tmp_path), retention_days=90)
    assert len(archived) == 40 and not redis_conn.keys("codexbot:run:*:log")
    after = stored_bytes(redis_conn)
    assert after * 10 < before, (before, after)  # what stays is the small records: under a tenth


def stored_bytes(conn) -> int:
    return sum(conn.memory_usage(key) or 0 for key in conn.scan_iter("codexbot:*"))


def test_one_worker_tidies_at_a_time(redis_conn, tmp_path):
    make_run(redis_conn, "9" * 16)
    redis_conn.set("codexbot:janitor:tidy", "another worker", ex=60)
    assert tidy_runs(redis_conn, str(tmp_path), retention_days=90) == ([], [])
    redis_conn.delete("codexbot:janitor:tidy")
    assert tidy_runs(redis_conn, str(tmp_path), retention_days=90)[0] == ["9" * 16]
    assert redis_conn.get("codexbot:janitor:tidy") is None


def test_a_damaged_archive_reads_as_a_note_not_an_error(tmp_path):
    from jobs.records.archive import archive_path, read_archive

    path = archive_path(tmp_path, "cd" * 8)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x1f\x8b\x08\x00cut off")
    assert "cannot be read" in read_archive(tmp_path, "cd" * 8)["log"][0]
