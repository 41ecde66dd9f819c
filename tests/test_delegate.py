"""`codexbot delegate` → `logs -f` → `apply` end to end: the real CLI in a real checkout with uncommitted work,
the real web app on a live port, a real worker, the GitHub emulator and the OpenAI emulator with a script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.access.api_tokens import ApiTokens
from jobs.records.runs import load_run, read_log
from tests import sample_repo
from tests.stack import ROOT, Stack

USER_TEST = "from calc import add\n\n\ndef test_add_zero():\n    assert add(0, 4) == 4\n"


def git(cwd: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    (tmp_path / "stack").mkdir()
    with Stack(redis_server.url, workdir=tmp_path / "stack") as stack:
        yield stack


@pytest.fixture
def user(stack, tmp_path):
    return make_user(stack, tmp_path, stack.repo["path"], f"{stack.github.url}/{sample_repo.REPO}.git",
                     [sample_repo.REPO])


def make_user(stack, tmp_path: Path, source: str, remote_url: str, scopes: list[str]) -> tuple[Path, Path]:
    """A clone of octo/calc with a local edit and an untracked test file, and a config that names the server."""
    _, token = ApiTokens(stack_redis(stack), stack.settings.secret_key).create("alice", scopes)
    home = tmp_path / "home"
    (home / "xdg" / "codexbot").mkdir(parents=True)
    (home / "xdg" / "codexbot" / "config.toml").write_text(
        f'default_profile = "work"\n[profile.work]\nserver_url = "{stack.web.url}"\napi_token = "{token}"\n')
    checkout = tmp_path / "calc"
    git(tmp_path, "clone", "-q", source, str(checkout))
    git(checkout, "remote", "set-url", "origin", remote_url)
    git(checkout, "fetch", "-q", source, "+refs/heads/*:refs/remotes/origin/*")
    (checkout / "README.md").write_text("# calc\n\nA tiny calculator, edited locally.\n")
    (checkout / "tests" / "test_zero.py").write_text(USER_TEST)
    return checkout, home


def stack_redis(stack):
    import redis

    return redis.Redis.from_url(stack.redis_url)


def codexbot(checkout: Path, home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(home), "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / "xdg")}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=checkout, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_delegate_follow_and_apply_round_trips_a_task_with_uncommitted_work(stack, user, redis_conn):
    checkout, home = user
    sent = codexbot(checkout, home, "delegate", "fix the failing test")
    assert sent.returncode == 0, sent.stderr
    run_id = sent.stdout.strip()
    assert "with your uncommitted changes" in sent.stderr and f"/runs/{run_id}" in sent.stderr
    stack.start_worker(stack.workdir / "worker.log")

    followed = codexbot(checkout, home, "logs", run_id, "-f", timeout=240)
    assert followed.returncode == 0, followed.stderr
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", "\n".join(read_log(redis_conn, run_id))
    assert "phase: agent working" in followed.stdout and f"run {run_id} succeeded" in followed.stderr
    assert run.tests["passed"] == 2  # the untracked test file went with the task
    assert stack.github.list_pulls(sample_repo.REPO) == []  # a delegated run answers with a diff, not a PR

    status = codexbot(checkout, home, "status", run_id)
    assert "succeeded" in status.stdout and "2 passed" in status.stdout
    assert run_id in codexbot(checkout, home, "runs").stdout

    applied = codexbot(checkout, home, "apply", run_id)
    assert applied.returncode == 0, applied.stderr
    assert (checkout / "calc.py").read_text() == sample_repo.FIXED_CALC
    assert "edited locally" in (checkout / "README.md").read_text()
    assert (checkout / "tests" / "test_zero.py").read_text() == USER_TEST
    changed = git(checkout, "status", "--porcelain").split("\n")
    assert sorted(line for line in changed if line) == [" M README.md", " M calc.py", "?? tests/test_zero.py"]


def test_apply_that_conflicts_changes_nothing(stack, user, redis_conn):
    checkout, home = user
    run_id = codexbot(checkout, home, "delegate", "fix the failing test").stdout.strip()
    assert stack.run_worker_burst().returncode == 0
    assert load_run(redis_conn, run_id).status == "succeeded"
    mine = 'def add(a, b):\n    """Add them up."""\n    return b - a\n'
    (checkout / "calc.py").write_text(mine)
    refused = codexbot(checkout, home, "apply", run_id)
    assert refused.returncode == 1
    assert "conflicts with your edits (calc.py); nothing was changed" in refused.stderr
    assert (checkout / "calc.py").read_text() == mine


def test_a_diff_that_does_not_apply_fails_the_run_with_one_sentence(stack, user, redis_conn):
    import requests

    checkout, home = user
    token = _token_of(home)
    head = git(checkout, "rev-parse", "HEAD").strip()
    bad = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,1 +1,1 @@\n-nothing like this\n+x\n"
    answer = requests.post(stack.web.url + "/api/runs", timeout=10, headers={"Authorization": f"Bearer {token}"},
                           json={"task": "fix it", "repository": sample_repo.REPO, "base_commit": head, "diff": bad,
                                 "request_id": "bad-diff-0001"})
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["id"]
    assert stack.run_worker_burst().returncode == 0
    run = load_run(redis_conn, run_id)
    assert run.status == "failed"
    assert run.error.startswith("your uncommitted changes do not apply to the base commit")
    assert stack.model.requests == []  # no agent ran


def test_a_base_commit_not_on_the_forge_fails_with_what_to_do(stack, user, redis_conn):
    checkout, home = user
    (checkout / "local.txt").write_text("only here\n")
    git(checkout, "add", "local.txt")
    git(checkout, "commit", "-qm", "not pushed")
    sent = codexbot(checkout, home, "delegate", "fix the failing test")
    assert "is on no remote branch you have fetched" in sent.stderr
    assert stack.run_worker_burst().returncode == 0
    run = load_run(redis_conn, sent.stdout.strip())
    assert run.status == "failed" and "is not on the forge: push it" in run.error


def _token_of(home: Path) -> str:
    text = (home / "xdg" / "codexbot" / "config.toml").read_text()
    return json.loads(text.split("api_token = ")[1].splitlines()[0])


def test_a_task_delegated_to_gitlab_comes_back_the_same_way(stack, tmp_path, redis_conn):
    import os.path

    source = os.path.join(stack.gitlab.repos_root, f"{sample_repo.REPO}.git")
    checkout, home = make_user(stack, tmp_path, source, f"{stack.gitlab.url}/{sample_repo.REPO}.git",
                               [f"gitlab:{sample_repo.REPO}"])
    sent = codexbot(checkout, home, "delegate", "--forge", "gitlab", "fix the failing test")
    assert sent.returncode == 0, sent.stderr
    run_id = sent.stdout.strip()
    assert stack.run_worker_burst().returncode == 0
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", "\n".join(read_log(redis_conn, run_id))
    assert codexbot(checkout, home, "apply", run_id).returncode == 0
    assert (checkout / "calc.py").read_text() == sample_repo.FIXED_CALC


def test_delegate_with_pr_also_opens_a_pull_request_with_both_changes(stack, user, redis_conn):
    checkout, home = user
    run_id = codexbot(checkout, home, "delegate", "--pr", "fix the failing test").stdout.strip()
    assert stack.run_worker_burst().returncode == 0
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", "\n".join(read_log(redis_conn, run_id))
    [pull] = stack.github.list_pulls(sample_repo.REPO)
    assert pull["head"]["ref"] == f"codex/delegated-{run_id[:8]}" and pull["base"]["ref"] == "main"
    assert run.pr_url == pull["html_url"] and "Fixes #" not in pull["body"] and "2 passed" in pull["body"]
    head = pull["head"]["ref"]
    assert stack.github.read_file_at(sample_repo.REPO, head, "calc.py") == sample_repo.FIXED_CALC
    assert "edited locally" in stack.github.read_file_at(sample_repo.REPO, head, "README.md")
    assert pull["html_url"] in codexbot(checkout, home, "status", run_id).stdout


def test_delegate_with_pr_never_pushes_the_users_changes_to_protected_paths(stack, user, redis_conn):
    checkout, home = user  # its uncommitted changes include README.md
    stack.github.commit_files(sample_repo.REPO, "main", {".codexbot.toml": '[agent]\nprotected_paths = ["README.md"]\n'},
                              "protect the README")
    run_id = codexbot(checkout, home, "delegate", "--pr", "fix the failing test").stdout.strip()
    assert stack.run_worker_burst().returncode == 0
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "touch protected paths (README.md)" in run.error
    assert stack.github.list_pulls(sample_repo.REPO) == [] and stack.model.requests == []
