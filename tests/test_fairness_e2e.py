"""End to end: a quiet repository's run is not held up behind a busy repository's backlog."""

from __future__ import annotations

import pytest

from jobs.records.runs import ALL_RUNS, load_run
from tests import sample_repo
from tests.stack import Stack

QUIET = "quiet/calc"


@pytest.mark.slow
def test_a_quiet_repository_runs_next_not_after_the_busy_backlog(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, script=[sample_repo.fix_answer] * 16, workdir=tmp_path,
               overrides={"repo_concurrency": 1}) as stack:
        stack.github.create_repo(QUIET, sample_repo.FILES)
        stack.github.add_installation(78, [QUIET], account="quiet")
        stack.github.set_permission(QUIET, "alice", "write")
        for repo in [sample_repo.REPO] * 3 + [QUIET]:  # the busy repository's three runs are asked for first
            number = stack.github.open_issue(repo, "test_add fails", user="alice")["number"]
            assert stack.github.comment_as("alice", repo, number, "/codex fix the failing test").status == 202
        result = stack.run_worker_burst()  # one worker takes the runs in the order the queue gives them
        assert result.returncode == 0, result.stderr[-2000:]
        done = [load_run(redis_conn, raw.decode()) for raw in redis_conn.zrange(ALL_RUNS, 0, -1)]
        assert [run.status for run in done] == ["succeeded"] * 4, [run.error for run in done]
        order = [run.repo for run in sorted(done, key=lambda run: run.started_at)]
        # FIFO would run it last; with one slot per repository it goes right after the busy one's first
        assert order == [sample_repo.REPO, QUIET, sample_repo.REPO, sample_repo.REPO]
        assert len(stack.github.list_pulls(QUIET)) == 1 and len(stack.github.list_pulls(sample_repo.REPO)) == 3
