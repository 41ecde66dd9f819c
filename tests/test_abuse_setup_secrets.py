"""A setup secret reaches the setup commands and nothing else: a scripted agent that looks for it everywhere
(its environment, /proc) finds nothing, and the canary is in no log, transcript, model request, comment,
pull request or commit."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from jobs.access.setup_secrets import SetupSecrets
from jobs.records.runs import load_run, read_log, transcript_key
from tests import sample_repo

REPO = sample_repo.REPO
pytestmark = pytest.mark.abuse
CONFIG = ('[setup]\ncommands = ["test -n \\"$NPM_TOKEN\\" && test \\"${#NPM_TOKEN}\\" -gt 20"]\n'
          'secrets = ["NPM_TOKEN"]\n')


def ask(stack, redis_conn) -> object:
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").response)["run_id"]
    proc = stack.run_worker_burst(timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return load_run(redis_conn, run_id), number, proc


def test_a_setup_secret_is_given_to_setup_only_and_shown_nowhere(stack, redis_conn):
    canary = f"npm-canary-{uuid.uuid4().hex}"
    SetupSecrets(redis_conn, stack.settings.secret_key).set(REPO, "NPM_TOKEN", canary)
    stack.github.commit_files(REPO, "main", {".codexbot.toml": CONFIG}, "setup needs the registry token")
    stack.model.set_script([
        {"tool_calls": [{"name": "shell", "arguments": {"command": "env; tr '\\0' '\\n' < /proc/self/environ; "
                                                                   "echo token=$NPM_TOKEN; cat ~/.npmrc"}}]},
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": sample_repo.FIXED_CALC}}]},
        {"tool_calls": [{"name": "finish", "arguments": {"summary": "Fixed add."}}]}])
    run, number, proc = ask(stack, redis_conn)
    assert run.status == "succeeded", run.error  # the setup command saw the secret, or it would have failed
    assert "setup secrets for the setup commands only: NPM_TOKEN" in "\n".join(read_log(redis_conn, run.run_id))
    history = subprocess.run(["git", "-C", stack.github.state.repo(REPO)["path"], "log", "--all", "-p"],
                             capture_output=True, text=True, check=True).stdout
    places = {"log": "\n".join(read_log(redis_conn, run.run_id)),
              "transcript": redis_conn.get(transcript_key(run.run_id)).decode(),
              "model requests": json.dumps(stack.model.requests), "history": history,
              "comments": json.dumps(stack.github.comments(REPO, number)),
              "pulls": json.dumps(stack.github.list_pulls(REPO)), "worker": proc.stdout + proc.stderr}
    assert [place for place, text in places.items() if canary in text] == []
    assert "token=\n" in places["transcript"].replace("\\n", "\n")  # the agent's shell had no such variable


def test_a_secret_named_but_not_stored_fails_the_run_with_the_command_to_store_it(stack, redis_conn):
    stack.github.commit_files(REPO, "main", {".codexbot.toml": CONFIG}, "setup needs the registry token")
    stack.model.set_script([{"tool_calls": [{"name": "finish", "arguments": {"summary": "x"}}]}])
    run, _, _ = ask(stack, redis_conn)
    assert run.status == "failed"
    assert run.error.startswith("the setup secret NPM_TOKEN named in [setup] secrets is not stored for octo/calc: "
                                "run `codexbot secret set octo/calc NPM_TOKEN`")
    assert stack.model.requests == []
