"""End to end on GitHub: a comment becomes a pull request, through the real stack.

Real Redis, the real web app over HTTP, real `codexbot worker` processes (RQ), real git over smart
HTTP, PyGithub and openai talking to the emulators.
"""

import json


from jobs.intake.accept import job_id_for, make_queue
from jobs.records.runs import load_run, read_log
from tests import sample_repo

REPO = sample_repo.REPO


def issue(stack, title="Tests fail", body="`test_add` fails."):
    return stack.github.open_issue(REPO, title, body, user="alice")["number"]


def bot_comments(stack, number):
    return [c for c in stack.github.comments(REPO, number) if c["user"]["type"] == "Bot"]


def test_comment_on_an_issue_opens_a_pull_request_with_the_fix(stack, redis_conn):
    number = issue(stack)
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test")
    assert delivery.status == 202
    run_id = json.loads(delivery.response)["run_id"]
    stack.work()

    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", run.error
    pulls = stack.github.list_pulls(REPO)
    assert len(pulls) == 1
    pull = pulls[0]
    assert pull["head"]["ref"] == f"codex/{number}-{run_id[:8]}" and pull["base"]["ref"] == "main"
    assert f"Fixes #{number}" in pull["body"] and "1 passed" in pull["body"]
    assert ("Before the change: 0 passed, 1 failed · after: 1 passed, 0 failed.\n"
            "No longer failing (1): `tests/test_calc.py::test_add`") in pull["body"]
    assert "Cost:** 5 steps · " in pull["body"] and "(checking out " in pull["body"]
    assert stack.github.read_file_at(REPO, pull["head"]["ref"], "calc.py") == sample_repo.FIXED_CALC
    assert run.pr_url == pull["html_url"] and run.tests["passed"] == 1 and run.tests["failed"] == 0
    [check] = stack.github.check_runs(REPO)
    assert (check["head_sha"], check["status"], check["conclusion"]) == (pull["head"]["sha"], "completed", "success")
    assert f"/runs/{run_id}" in check["details_url"] and "calc.py" in check["output"]["summary"]

    tracking = [c for c in bot_comments(stack, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "succeeded" in tracking[0]["body"] and pull["html_url"] in tracking[0]["body"]
    assert "/runs/" + run_id in tracking[0]["body"]
    # the model was sent the task and saw the failing test output
    first = stack.model.requests[0]
    assert "fix the failing test" in json.dumps(first["messages"])
    assert "1 failed" in json.dumps(stack.model.requests[1]["messages"])


def test_no_token_reaches_the_workspace_the_log_or_the_forge(stack, redis_conn):
    script = [{"tool_calls": [{"name": "shell", "arguments": {"command": "cat .git/config; env; git remote -v"}}]}]
    stack.model.set_script(script + sample_repo.fix_script()[2:])
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix it").response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", "\n".join(read_log(redis_conn, run_id))
    tokens = [p["token"] for p in stack.github.pushes] + [r["token"] for r in stack.github.requests if r.get("token")]
    assert tokens, "the emulator recorded no token use"
    seen_by_model = json.dumps(stack.model.requests)
    assert "[core]" in seen_by_model  # the agent did read .git/config
    texts = [seen_by_model, "\n".join(read_log(redis_conn, run_id)),
             json.dumps(stack.github.comments(REPO, number)), json.dumps(stack.github.list_pulls(REPO))]
    for token in set(tokens):
        for text in texts:
            assert token not in text
    assert "sk-emulated-model-key" not in seen_by_model + texts[1]


def test_comment_on_a_same_repo_pull_request_pushes_to_its_branch(stack, redis_conn):
    stack.github.commit_files(REPO, "feature", {"NOTES.md": "notes\n"}, "Add notes")
    pull = stack.github.open_pull(REPO, "feature", "Add notes")
    before = stack.github.branch_head(REPO, "feature")
    run_id = json.loads(stack.github.comment_as("alice", REPO, pull["number"], "/codex fix the failing test").response)["run_id"]
    stack.work()
    assert load_run(redis_conn, run_id).status == "succeeded"
    assert stack.github.branch_head(REPO, "feature") != before
    assert stack.github.read_file_at(REPO, "feature", "calc.py") == sample_repo.FIXED_CALC
    assert len(stack.github.list_pulls(REPO)) == 1


def test_a_reader_is_refused_politely_and_nothing_runs(stack, redis_conn):
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("mallory", REPO, number, "/codex fix it").response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "@mallory needs write access" in run.error
    comments = bot_comments(stack, number)
    assert len(comments) == 1 and "needs write access" in comments[0]["body"]
    assert stack.model.requests == [] and stack.github.list_pulls(REPO) == []
    assert not any(p["repo"] == REPO for p in stack.github.pushes)


def test_redelivered_webhook_yields_one_pull_request(stack, redis_conn):
    number = issue(stack)
    first = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test")
    again = stack.github.redeliver(first.id)
    assert (first.status, again.status) == (202, 200)
    stack.work()
    assert len(stack.github.list_pulls(REPO)) == 1


def test_a_job_run_twice_yields_one_pull_request_and_one_tracking_comment(stack, redis_conn):
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").response)["run_id"]
    stack.work()
    # as if the worker died after publishing but before it recorded the end: RQ runs the job again
    redis_conn.hset(f"codexbot:run:{run_id}", "status", "running")
    stack.model.set_script(sample_repo.fix_script()[2:])
    make_queue(redis_conn, "codexbot").enqueue("jobs.run.pipeline.run_task", run_id, job_id=f"again-{run_id}")
    stack.work()
    assert load_run(redis_conn, run_id).status == "succeeded"
    assert len(stack.github.list_pulls(REPO)) == 1
    assert len([c for c in bot_comments(stack, number) if run_id in c["body"]]) == 1


def test_a_job_queued_by_the_release_before_the_redesign_still_runs(stack, redis_conn):
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").response)["run_id"]
    queue = make_queue(redis_conn, "codexbot")
    queue.empty()  # the intake's job, replaced by one as the release before wrote it
    queue.enqueue("jobs.pipeline.run_task", run_id, job_id=job_id_for(run_id))
    stack.work()
    assert load_run(redis_conn, run_id).status == "succeeded"
    assert len(stack.github.list_pulls(REPO)) == 1


def test_a_model_error_leaves_a_clear_failure_comment(stack, redis_conn):
    stack.model.set_script([{"status": 401, "body": {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}}])
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix it").response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "OPENAI_API_KEY" in run.error
    tracking = [c for c in bot_comments(stack, number) if run_id in c["body"]]
    assert len(tracking) == 1 and "failed" in tracking[0]["body"] and "OPENAI_API_KEY" in tracking[0]["body"]
    assert stack.github.list_pulls(REPO) == []


def test_a_failed_setup_command_shows_what_it_printed(stack, redis_conn):
    """pip's or npm's own error is what a user needs; the exit code alone says nothing."""
    failing = "printf 'Collecting nope\\\\nERROR: No matching distribution found for nope ```\\\\n'; exit 1"
    stack.github.commit_files(REPO, "main", {".codexbot.toml": f'[setup]\ncommands = ["{failing}"]\n'}, "setup")
    stack.model.set_script([{"tool_calls": [{"name": "finish", "arguments": {"summary": "x"}}]}])
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix it").response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and run.error.startswith("the setup command `printf")
    assert "failed with exit code 1; fix [setup] in .codexbot.toml" in run.error
    log = "\n".join(read_log(redis_conn, run_id))
    assert "setup output (the last 60 lines):\nCollecting nope\nERROR: No matching distribution found" in log
    tracking = [c["body"] for c in bot_comments(stack, number) if run_id in c["body"]]
    assert "\n````text\nCollecting nope\nERROR: No matching distribution found for nope ```\n````\n" in tracking[0]
    assert stack.model.requests == []


def test_help_command_gets_a_reply_and_runs_nothing(stack, redis_conn):
    number = issue(stack)
    stack.github.comment_as("alice", REPO, number, "/codex fix it --attempts 9")
    stack.work()
    comments = bot_comments(stack, number)
    assert len(comments) == 1 and "--attempts" in comments[0]["body"] and "Commands" in comments[0]["body"]
    assert stack.model.requests == []


def test_label_starts_a_run_from_the_issue(stack, redis_conn):
    number = issue(stack, "Fix the failing test", "add() is wrong")
    delivery = stack.github.label_as("alice", REPO, number, "codex")
    assert delivery.status == 202
    stack.work()
    assert len(stack.github.list_pulls(REPO)) == 1
    assert "Fix the failing test" in json.dumps(stack.model.requests[0]["messages"])


def test_run_page_needs_the_signed_link(stack, redis_conn):
    import requests

    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").response)["run_id"]
    stack.work()
    tracking = [c for c in bot_comments(stack, number) if run_id in c["body"]][0]["body"]
    link = tracking.split("[Run log](", 1)[1].split(")", 1)[0]
    page = requests.get(link, timeout=5)
    assert page.status_code == 200 and "succeeded" in page.text and "phase: tests" in page.text
    assert requests.get(link.split("?")[0], timeout=5).status_code == 403
    assert requests.get(link.replace("sig=", "sig=x"), timeout=5).status_code == 403


def test_a_change_whose_tests_fail_opens_a_draft_that_closes_nothing(stack, redis_conn):
    stack.model.set_script(sample_repo.NOT_A_FIX)
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    [pull] = stack.github.list_pulls(REPO)
    assert pull["draft"] is True and f"Fixes #{number}" not in pull["body"]
    assert pull["body"].startswith("> [!WARNING]\n> **A draft: the tests fail with this change** (tests failed: "
                                   "0 passed, 1 failed")
    assert f"it does not close #{number}." in pull["body"]
    assert "Failing before and after (1): `tests/test_calc.py::test_add`" in pull["body"]
    assert load_run(redis_conn, run_id).tests["still"] == ["tests/test_calc.py::test_add"]
    assert run.status == "succeeded" and "as a draft: the tests fail with the change" in (
        "\n".join(read_log(redis_conn, run_id)))
    [tracking] = [c["body"] for c in bot_comments(stack, number) if f"codexbot:run={run_id}" in c["body"]]
    assert "⚠️ **codexbot run needs attention**: opened" in tracking and "🚀" not in tracking
    [asked] = [c for c in stack.github.comments(REPO, number) if c["body"] == "/codex fix the failing test"]
    record = stack.github.state.comment(stack.github.state.repo(REPO), asked["id"])
    assert {r["content"] for r in record["reactions"]} == {"eyes", "confused"}
    [check] = stack.github.check_runs(REPO)
    assert check["conclusion"] == "failure"


def test_a_run_ended_by_a_model_error_keeps_what_it_used(stack, redis_conn):
    stack.model.set_script([
        {"tool_calls": [{"name": "shell", "arguments": {"command": "python3 -m pytest -q"}}]},
        {"status": 400, "body": {"error": {"message": "context too long", "type": "invalid_request_error"}}}])
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix it").response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and run.usage["steps"] == 1 and run.usage["prompt_tokens"] > 0
    log = "\n".join(read_log(redis_conn, run_id))
    assert "what the model server answered:\n" in log and "context too long" in log  # the log, not the comment


def test_a_run_stopped_by_a_limit_says_so_not_that_the_agent_finished(stack, redis_conn):
    stack.github.commit_files(REPO, "main", {".codexbot.toml": "[agent]\nmax_steps = 1\n"}, "one step")
    stack.model.set_script([{"tool_calls": [{"name": "shell", "arguments": {"command": "ls"}}]}])
    number = issue(stack)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix it").response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and run.error.startswith("the agent was stopped before it changed any file: ")
    assert "finished" not in run.error
