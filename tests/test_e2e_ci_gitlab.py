"""CI repair on GitLab through the real stack and python-gitlab: a failed pipeline on codexbot's merge request →
one follow-up commit from the failing job's trace → the pipeline passes → no further runs; attempts run out → one
note saying so; `/codex fix-ci` on demand."""

import json

import pytest

from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack
from tests.test_e2e_ci import LOG, REPAIRED, repair_script

PROJECT = sample_repo.REPO
TRACE = "\x1b[32;1m$ pytest\x1b[0;m\n" + LOG + "\n\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n"


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        yield stack
        assert stack.gitlab.errors == []


def bot_merge_request(stack):
    issue = stack.gitlab.open_issue(PROJECT, "Tests fail", "", author="alice")
    assert stack.gitlab.note_as("alice", PROJECT, issue["iid"], "/codex fix the failing test").status == 202
    stack.work()
    [mr] = stack.gitlab.merge_requests(PROJECT)
    return mr["iid"], mr["source_branch"]


def ci(stack, iid, branch, jobs, deliveries=1):
    """A merge request pipeline runs jobs (name → status) on the branch's head; GitLab delivers its hook."""
    sha = stack.gitlab.branch_head(PROJECT, branch)
    pipeline = stack.gitlab.ci.pipeline(PROJECT, sha, jobs, traces={name: TRACE for name in jobs}, merge_request=iid)
    for _ in range(deliveries):
        delivery = stack.gitlab.ci.deliver(pipeline)
        assert delivery.status in (200, 202), delivery.response
    stack.work()
    return sha


def notes(stack, iid, text):
    return [n for n in stack.gitlab.notes(PROJECT, iid, merge_request=True) if text in n["body"]]


def test_a_failed_pipeline_gets_one_repair_then_a_passing_one_ends_it(stack):
    iid, branch = bot_merge_request(stack)
    asked = len(stack.model.requests)
    stack.model.set_script(repair_script())
    failed_sha = ci(stack, iid, branch, {"tests": "failed", "lint": "success"})
    head = stack.gitlab.branch_head(PROJECT, branch)
    assert head != failed_sha and stack.gitlab.read_file_at(PROJECT, branch, "calc.py") == REPAIRED
    task = json.dumps(stack.model.requests[asked]["messages"])
    assert "Failing job: tests" in task and "assert sub(5, 3) == 2" in task and "Failing job: lint" not in task
    assert "ERROR: Job failed: exit code 1" in task and "\\u001b" not in task  # the trace without its colours
    [announced] = notes(stack, iid, "CI repair 1 of 2")
    assert f"CI fails on {failed_sha[:12]} (`tests`)" in announced["body"] and "[Run log](" in announced["body"]
    asked = len(stack.model.requests)
    ci(stack, iid, branch, {"tests": "success"})
    [passed] = notes(stack, iid, "✅ CI passes")
    assert "after 1 repair" in passed["body"]
    assert len(stack.model.requests) == asked and stack.gitlab.branch_head(PROJECT, branch) == head
    ci(stack, iid, branch, {"tests": "success"})  # another pipeline on the same head: nothing more is said
    assert len(notes(stack, iid, "✅ CI passes")) == 1


def test_a_failed_branch_pipeline_repairs_the_merge_request_codexbot_opened_from_that_branch(stack):
    """GitLab's default pipelines are branch pipelines: their hook names the branch and no merge request."""
    iid, branch = bot_merge_request(stack)
    stack.model.set_script(repair_script())
    sha = stack.gitlab.branch_head(PROJECT, branch)
    pipeline = stack.gitlab.ci.pipeline(PROJECT, sha, {"tests": "failed"}, traces={"tests": TRACE}, ref=branch)
    delivery = stack.gitlab.ci.deliver(pipeline)
    assert json.loads(delivery.body)["merge_request"] is None and delivery.status == 202, delivery.response
    stack.work()
    assert stack.gitlab.read_file_at(PROJECT, branch, "calc.py") == REPAIRED
    [announced] = notes(stack, iid, "CI repair 1 of 2")
    assert f"CI fails on {sha[:12]} (`tests`)" in announced["body"]


def test_a_branch_pipeline_of_a_branch_codexbot_opened_nothing_from_starts_nothing(stack):
    stack.gitlab.commit_files(PROJECT, "codex/someone-else", {"calc.py": REPAIRED}, "Theirs", start="main")
    sha = stack.gitlab.branch_head(PROJECT, "codex/someone-else")
    delivery = stack.gitlab.ci.deliver(stack.gitlab.ci.pipeline(PROJECT, sha, {"tests": "failed"}, ref="codex/someone-else"))
    assert delivery.status == 200 and "opened no merge request" in delivery.response
    feature = stack.gitlab.ci.deliver(stack.gitlab.ci.pipeline(PROJECT, sha, {"tests": "failed"}, ref="feature"))
    assert feature.status == 200 and "branch pipeline" in feature.response
    stack.work()
    assert stack.model.requests == []


def test_attempts_run_out_with_one_note(stack):
    iid, branch = bot_merge_request(stack)
    for attempt in (1, 2):
        stack.model.set_script(repair_script(f"Attempt {attempt}.", REPAIRED + f"\n# attempt {attempt}\n"))
        before = stack.gitlab.branch_head(PROJECT, branch)
        ci(stack, iid, branch, {"tests": "failed"})
        assert stack.gitlab.branch_head(PROJECT, branch) != before
    asked = len(stack.model.requests)
    ci(stack, iid, branch, {"tests": "failed"})
    ci(stack, iid, branch, {"tests": "failed"})
    gave_up = notes(stack, iid, "❌ CI still fails")
    assert len(gave_up) == 1 and "after 2 repair attempts" in gave_up[0]["body"] and "`tests`" in gave_up[0]["body"]
    assert len(stack.model.requests) == asked


def test_the_same_head_is_repaired_once(stack):
    iid, branch = bot_merge_request(stack)
    stack.model.set_script(repair_script())
    ci(stack, iid, branch, {"tests": "failed", "lint": "failed"}, deliveries=2)
    pushes = [p for p in stack.gitlab.pushes if p["branch"] == branch]
    assert len(pushes) == 2  # the merge request's first commit and one repair
    task = json.dumps(stack.model.requests[-2]["messages"])
    assert "Failing job: tests" in task and "Failing job: lint" in task


def test_ci_on_a_persons_merge_request_is_not_repaired_automatically(stack):
    stack.gitlab.commit_files(PROJECT, "codex/mine", {"calc.py": REPAIRED}, "Mine", start="main")
    iid = stack.gitlab.open_merge_request(PROJECT, "codex/mine", "Mine", author="alice")["iid"]
    ci(stack, iid, "codex/mine", {"tests": "failed"})
    assert stack.model.requests == [] and stack.gitlab.notes(PROJECT, iid, merge_request=True) == []


def test_codexbots_own_failed_status_starts_nothing(stack):
    """GitLab counts commit statuses in a pipeline's status: codexbot's own failed one (its tests failed) fails the
    pipeline though every job passes."""
    stack.model.set_script(sample_repo.NOT_A_FIX)
    iid, branch = bot_merge_request(stack)
    asked, said = len(stack.model.requests), len(stack.gitlab.notes(PROJECT, iid, merge_request=True))
    sha = stack.gitlab.branch_head(PROJECT, branch)
    assert [s["status"] for s in stack.gitlab.commit_statuses(PROJECT, sha)][-1] == "failed"
    pipeline = stack.gitlab.ci.pipeline(PROJECT, sha, {"tests": "success"}, merge_request=iid)
    delivery = stack.gitlab.ci.deliver(pipeline)
    assert json.loads(delivery.body)["object_attributes"]["status"] == "failed"
    assert delivery.status == 200 and "no failing job" in delivery.response
    stack.work()
    assert len(stack.model.requests) == asked and len(stack.gitlab.notes(PROJECT, iid, merge_request=True)) == said


def test_fix_ci_on_demand_repairs_a_same_project_merge_request(stack, redis_conn):
    stack.gitlab.commit_files(PROJECT, "feature", {"calc.py": sample_repo.FIXED_CALC}, "Fix add", start="main")
    iid = stack.gitlab.open_merge_request(PROJECT, "feature", "Fix add", author="alice")["iid"]
    sha = stack.gitlab.branch_head(PROJECT, "feature")
    stack.gitlab.ci.pipeline(PROJECT, sha, {"tests": "failed"}, traces={"tests": TRACE}, merge_request=iid)
    stack.model.set_script(repair_script())
    delivery = stack.gitlab.note_as("alice", PROJECT, iid, "/codex fix-ci", merge_request=True)
    assert delivery.status == 202
    stack.work()
    run = load_run(redis_conn, json.loads(delivery.response)["run_id"])
    assert run.status == "succeeded", run.error
    assert stack.gitlab.read_file_at(PROJECT, "feature", "calc.py") == REPAIRED
