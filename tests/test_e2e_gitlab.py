"""End to end on GitLab: a note becomes a merge request, through the real stack and python-gitlab."""

import json

import pytest

from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack

PROJECT = sample_repo.REPO


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        yield stack
        assert stack.gitlab.errors == []


def run_id_of(delivery):
    assert delivery.status == 202, delivery.response
    return json.loads(delivery.response)["run_id"]


def bot_notes(stack, iid, merge_request=False):
    return [n for n in stack.gitlab.notes(PROJECT, iid, merge_request=merge_request)
            if n["author"]["username"] == stack.gitlab_bot["username"]]


def test_note_on_an_issue_opens_a_merge_request_with_the_fix(stack, redis_conn):
    issue = stack.gitlab.open_issue(PROJECT, "Tests fail", "test_add fails", author="alice")
    run_id = run_id_of(stack.gitlab.note_as("alice", PROJECT, issue["iid"], "/codex fix the failing test"))
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", run.error
    mrs = stack.gitlab.merge_requests(PROJECT)
    assert len(mrs) == 1
    mr = mrs[0]
    assert mr["source_branch"] == f"codex/{issue['iid']}-{run_id[:8]}" and mr["target_branch"] == "main"
    assert f"Closes #{issue['iid']}" in mr["description"] and "1 passed" in mr["description"]
    assert stack.gitlab.read_file_at(PROJECT, mr["source_branch"], "calc.py") == sample_repo.FIXED_CALC
    notes = bot_notes(stack, issue["iid"])
    assert len(notes) == 1 and "succeeded" in notes[0]["body"] and run_id in notes[0]["body"]
    awards = {a["name"] for a in stack.gitlab.award_emoji(PROJECT, issue["iid"], note_id=_note_id(stack, issue["iid"]))}
    assert {"eyes", "rocket"} <= awards
    statuses = stack.gitlab.commit_statuses(PROJECT, stack.gitlab.branch_head(PROJECT, mr["source_branch"]))
    assert [s["status"] for s in statuses][-1] == "success" and f"/runs/{run_id}" in statuses[-1]["target_url"]


def _note_id(stack, iid):
    return [n for n in stack.gitlab.notes(PROJECT, iid) if n["body"].startswith("/codex")][0]["id"]


def test_note_on_a_merge_request_pushes_to_its_source_branch(stack, redis_conn):
    stack.gitlab.commit_files(PROJECT, "feature", {"NOTES.md": "notes\n"}, "Add notes")
    mr = stack.gitlab.open_merge_request(PROJECT, "feature", "Add notes", author="alice")
    before = stack.gitlab.branch_head(PROJECT, "feature")
    run_id = run_id_of(stack.gitlab.note_as("alice", PROJECT, mr["iid"], "/codex fix the failing test", merge_request=True))
    stack.work()
    assert load_run(redis_conn, run_id).status == "succeeded"
    assert stack.gitlab.branch_head(PROJECT, "feature") != before
    assert stack.gitlab.read_file_at(PROJECT, "feature", "calc.py") == sample_repo.FIXED_CALC
    assert len(stack.gitlab.merge_requests(PROJECT)) == 1
    assert len(bot_notes(stack, mr["iid"], merge_request=True)) == 1


def test_a_reporter_is_refused_and_nothing_runs(stack, redis_conn):
    issue = stack.gitlab.open_issue(PROJECT, "Tests fail", "", author="mallory")
    run_id = run_id_of(stack.gitlab.note_as("mallory", PROJECT, issue["iid"], "/codex fix it"))
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "needs the Developer role or higher" in run.error
    assert len(bot_notes(stack, issue["iid"])) == 1
    assert stack.model.requests == [] and stack.gitlab.merge_requests(PROJECT) == []


def test_a_redelivery_yields_one_merge_request(stack, redis_conn):
    issue = stack.gitlab.open_issue(PROJECT, "Tests fail", "", author="alice")
    first = stack.gitlab.note_as("alice", PROJECT, issue["iid"], "/codex fix the failing test")
    again = stack.gitlab.redeliver(first.id)
    assert (first.status, again.status) == (202, 200)
    stack.work()
    assert len(stack.gitlab.merge_requests(PROJECT)) == 1


def test_label_on_an_issue_starts_a_run(stack, redis_conn):
    issue = stack.gitlab.open_issue(PROJECT, "Fix the failing test", "add() is wrong", author="alice")
    run_id_of(stack.gitlab.label_as("alice", PROJECT, issue["iid"], "codex"))
    stack.work()
    assert len(stack.gitlab.merge_requests(PROJECT)) == 1


def test_no_stored_token_is_one_clear_sentence(stack, redis_conn):
    from jobs.forges.gitlab_tokens import TokenStore

    TokenStore(redis_conn, stack.settings.secret_key).remove(PROJECT)
    issue = stack.gitlab.open_issue(PROJECT, "Tests fail", "", author="alice")
    run_id = run_id_of(stack.gitlab.note_as("alice", PROJECT, issue["iid"], "/codex fix it"))
    stack.work()
    assert "codexbot gitlab add-token octo/calc" in load_run(redis_conn, run_id).error


def test_a_change_whose_tests_fail_opens_a_draft_merge_request_that_closes_nothing(stack, redis_conn):
    stack.model.set_script(sample_repo.NOT_A_FIX)
    issue = stack.gitlab.open_issue(PROJECT, "Tests fail", "test_add fails", author="alice")
    run_id = run_id_of(stack.gitlab.note_as("alice", PROJECT, issue["iid"], "/codex fix the failing test"))
    stack.work()
    assert load_run(redis_conn, run_id).status == "succeeded"
    [mr] = stack.gitlab.merge_requests(PROJECT)
    assert mr["title"] == "Draft: fix the failing test" and mr["draft"] is True
    assert f"Closes #{issue['iid']}" not in mr["description"] and "A draft: the tests fail" in mr["description"]
    [note] = bot_notes(stack, issue["iid"])
    assert "needs attention" in note["body"]
    awards = {a["name"] for a in stack.gitlab.award_emoji(PROJECT, issue["iid"], note_id=_note_id(stack, issue["iid"]))}
    assert "rocket" not in awards and "confused" in awards
