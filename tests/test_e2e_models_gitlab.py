"""`--models a,b` and `/codex pick N` on GitLab, through the real stack and python-gitlab: one attempt per model in
the merge request's table, then attempt N's change on the merge request's branch as a new commit on top."""

import json
import re

import pytest

from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack
from tests.test_e2e_models import VERBOSE, respond

PROJECT = sample_repo.REPO


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, script=[respond] * 12, workdir=tmp_path) as stack:
        yield stack
        assert stack.gitlab.errors == []


def ask(stack, redis_conn, iid, text, merge_request=False):
    delivery = stack.gitlab.note_as("alice", PROJECT, iid, text, merge_request=merge_request)
    assert delivery.status == 202, delivery.response
    stack.work()
    return load_run(redis_conn, json.loads(delivery.response)["run_id"])


def test_models_compare_then_pick_puts_the_other_attempt_on_the_merge_requests_branch(stack, redis_conn):
    issue = stack.gitlab.open_issue(PROJECT, "Tests fail", "", author="alice")
    run = ask(stack, redis_conn, issue["iid"], "/codex --models model-a,model-b fix the failing test")
    assert run.status == "succeeded", run.error
    assert sorted(r["model"] for r in stack.model.requests) == ["model-a", "model-a", "model-b", "model-b"]
    [mr] = stack.gitlab.merge_requests(PROJECT)
    branch = mr["source_branch"]
    assert re.search(r"\| 1 \| `model-a` \| 1 passed, 0 failed .*\*\*chosen\*\*", mr["description"])
    assert re.search(r"\| 2 \| `model-b` \| 1 passed, 0 failed", mr["description"])
    before = stack.gitlab.branch_head(PROJECT, branch)
    picked = ask(stack, redis_conn, mr["iid"], "/codex pick 2", merge_request=True)
    assert picked.status == "succeeded", picked.error
    assert stack.gitlab.read_file_at(PROJECT, branch, "calc.py") == VERBOSE
    last = stack.gitlab.pushes[-1]
    assert last["branch"] == branch and last["old_sha"] == before  # a new commit on top, not a force-push
    missing = ask(stack, redis_conn, mr["iid"], "/codex pick 3", merge_request=True)
    assert missing.status == "failed" and "no kept change of attempt 3" in missing.error
