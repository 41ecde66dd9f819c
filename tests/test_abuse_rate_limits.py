"""Rate limits per requester and per repository, through the real stack: a flood of requests starts at most the
limit's worth of runs, and the requester gets one polite comment per hour, not one per attempt."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from jobs.intake.accept import accept_trigger, make_queue
from jobs.intake.rate_limits import RateLimits, release_repo_slot
from jobs.records.runs import load_run
from jobs.types import Command, Trigger
from tests import sample_repo
from tests.stack import Stack

REPO = sample_repo.REPO
pytestmark = pytest.mark.abuse
FINISH = {"tool_calls": [{"name": "finish", "arguments": {"summary": "Nothing to change."}}]}


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    limits = {"rate_limit_user": 3, "rate_limit_repo": 5}
    with Stack(redis_server.url, script=[FINISH] * 10, workdir=tmp_path, overrides=limits) as stack:
        for login in ("bob", "carol", "dave"):
            stack.github.add_user(login, {REPO: "write"})
        yield stack
        assert stack.github.errors == []


def bot_comments(stack, number):
    return [c["body"] for c in stack.github.comments(REPO, number) if c["user"]["type"] == "Bot"]


def test_a_flood_from_one_user_starts_only_the_limit_and_one_polite_comment(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="alice")["number"]
    with ThreadPoolExecutor(8) as pool:
        deliveries = list(pool.map(lambda i: stack.github.comment_as("alice", REPO, number, f"/codex try {i}"), range(40)))
    answers = [json.loads(d.response) for d in deliveries]
    accepted = [a for a in answers if "command" in a]
    told = [a for a in answers if "requester is told once" in a.get("ignored", "")]
    silent = [a for a in answers if "already told" in a.get("ignored", "")]
    assert (len(accepted), len(told), len(silent)) == (3, 1, 36), answers
    assert sorted(d.status for d in deliveries) == [200] * 37 + [202] * 3
    stack.work()
    assert len(stack.model.requests) == 3  # three runs reached the agent, no more
    polite = [b for b in bot_comments(stack, number) if "runs in the last hour" in b]
    assert len(polite) == 1 and "@alice you have started 3 runs in the last hour" in polite[0]
    assert "ask again with `/codex` in about 60 min" in polite[0]
    assert load_run(redis_conn, told[0]["run_id"]).status == "failed"
    for answer in silent:
        assert load_run(redis_conn, answer["run_id"]) is None  # recorded as a delivery only: nothing to show
    # a redelivery of a limited delivery is a duplicate, and the next attempt stays silent
    limited = next(d for d, a in zip(deliveries, answers) if a in told)
    assert json.loads(stack.github.redeliver(limited.id).response)["duplicate"] is True
    again = stack.github.comment_as("alice", REPO, number, "/codex one more")
    assert "already told" in json.loads(again.response)["ignored"]
    stack.work()
    assert len([b for b in bot_comments(stack, number) if "runs in the last hour" in b]) == 1


def test_the_repository_limit_holds_across_requesters_and_control_commands_still_answer(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="alice")["number"]
    statuses = [stack.github.comment_as(login, REPO, number, "/codex fix it").status
                for login in ("alice", "alice", "bob", "bob", "carol")]
    assert statuses == [202] * 5
    over = stack.github.comment_as("dave", REPO, number, "/codex fix it")
    assert over.status == 200 and "requester is told once" in json.loads(over.response)["ignored"]
    status = stack.github.comment_as("dave", REPO, number, "/codex status")
    assert status.status == 202  # help, status and cancel are never limited
    stack.work()
    assert len(stack.model.requests) == 5
    polite = [b for b in bot_comments(stack, number) if "@dave octo/calc has had 5 runs in the last hour" in b]
    assert len(polite) == 1 and polite[0].startswith("<!-- codexbot:run=")
    [status_reply] = [b for b in bot_comments(stack, number) if "the runs asked for here" in b]
    assert "**failed**, asked by @dave" in status_reply  # the refused request is listed, with why


def _trigger(author: str, repo: str = REPO) -> Trigger:
    return Trigger(forge="github", event="issue_comment", source="comment", repo=repo, repo_id=1, number=1,
                   is_pull_request=False, title="t", author=author, installation_id=1,
                   command=Command(kind="task", text="fix it"))


def test_a_window_frees_its_runs_as_they_age(redis_conn):
    queue = make_queue(redis_conn, "codexbot")
    limits = RateLimits(per_user=2, window=1)
    first = [accept_trigger(queue, _trigger("alice"), f"d{i}", job_timeout=60, limits=limits) for i in range(3)]
    assert [i.limited for i in first] == ["", "", "told"]
    assert accept_trigger(queue, _trigger("bob"), "other", job_timeout=60, limits=limits).limited == ""
    time.sleep(1.2)
    later = [accept_trigger(queue, _trigger("alice"), f"e{i}", job_timeout=60, limits=limits) for i in range(3)]
    assert [i.limited for i in later] == ["", "", "told"]  # a new hour: room again, and one new reply
    assert queue.count == 5 and make_queue(redis_conn, "codexbot-control").count == 2


def test_zero_turns_the_limits_off(redis_conn):
    queue = make_queue(redis_conn, "codexbot")
    results = [accept_trigger(queue, _trigger("alice"), f"d{i}", job_timeout=60, limits=RateLimits())
               for i in range(30)]
    assert not any(i.limited for i in results) and queue.count == 30


def test_redis_refusing_the_script_leaves_nothing_half_recorded(redis_server, redis_conn):
    redis_conn.config_set("maxmemory", 1)
    try:
        with pytest.raises(redis.RedisError):
            accept_trigger(make_queue(redis_conn, "codexbot"), _trigger("alice"), "d1", job_timeout=60,
                           limits=RateLimits(per_user=1, per_repo=1))
    finally:
        redis_conn.config_set("maxmemory", 0)
    assert redis_conn.keys("codexbot:*") == []


def test_a_refused_request_gives_its_repository_slot_back_but_still_counts_for_its_requester(redis_conn):
    queue = make_queue(redis_conn, "codexbot")
    limits = RateLimits(per_repo=2, per_user=2)
    refused = [accept_trigger(queue, _trigger("mallory"), f"m{i}", job_timeout=60, limits=limits) for i in range(2)]
    for intake in refused:  # what the worker does when mallory turns out to have read access only
        release_repo_slot(redis_conn, _trigger("mallory"), intake.run_id)
    assert accept_trigger(queue, _trigger("mallory"), "m3", job_timeout=60, limits=limits).limited == "told"
    assert [accept_trigger(queue, _trigger("alice"), f"a{i}", job_timeout=60, limits=limits).limited
            for i in range(3)] == ["", "", "told"]
