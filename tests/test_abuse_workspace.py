"""What the agent leaves in the workspace is hostile input to the worker, end to end.

Each test is written from the attacker's side: a scripted model that does what an injected instruction
would make it do (commit with git itself, plant replace objects, FIFOs, links and git settings, mention
people), then checks what the worker pushed, showed and said.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from jobs.records.runs import diff_key, load_run, transcript_key
from tests import sample_repo
from tests.stack import Stack

REPO = sample_repo.REPO
pytestmark = pytest.mark.abuse
PROTECTED = '[agent]\nprotected_paths = ["README.md"]\n'


def shell(command: str) -> dict:
    return {"tool_calls": [{"name": "shell", "arguments": {"command": command}}]}


def write(path: str, content: str) -> dict:
    return {"tool_calls": [{"name": "write_file", "arguments": {"path": path, "content": content}}]}


def finish(summary: str = "Fixed add.") -> dict:
    return {"tool_calls": [{"name": "finish", "arguments": {"summary": summary}}]}


def run_with(stack, redis_conn, script: list[dict], timeout: float = 120):
    """Ask for a run on a new issue, let one worker take it (bounded in time); the run and its branch."""
    stack.model.set_script(script)
    number = stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="alice")["number"]
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").response)["run_id"]
    started = time.monotonic()
    proc = stack.run_worker_burst(timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    return run, time.monotonic() - started


def bare(stack, *args: str) -> str:
    """git in the emulated forge's own copy of the repository: what was really pushed."""
    return subprocess.run(["git", "-C", stack.github.state.repo(REPO)["path"], *args], capture_output=True,
                          text=True, check=True, timeout=30).stdout


def test_commits_the_agent_makes_itself_are_not_pushed_as_they_are(stack, redis_conn):
    stack.github.commit_files(REPO, "main", {".codexbot.toml": PROTECTED}, "protect the README")
    run, _ = run_with(stack, redis_conn, [
        write("calc.py", sample_repo.FIXED_CALC),
        write("README.md", "# calc\n\nPWNED by the agent\n"),
        write("big.bin", "x" * 200_000),
        shell("git add -A && git -c user.name=Mallory -c user.email=mallory@evil.invalid commit -qm 'all of it' && "
              "git rm -q big.bin && git -c user.name=Mallory -c user.email=mallory@evil.invalid commit -qm 'hide'"),
        finish()])
    assert run.status == "succeeded", run.error
    branch = run.branch
    authors = bare(stack, "log", "--format=%an <%ae>", f"main..{branch}").split("\n")
    assert [a for a in authors if a] == ["codexbot <codexbot@users.noreply.github.com>"]
    assert "PWNED" not in bare(stack, "show", f"{branch}:README.md")
    assert "a + b" in bare(stack, "show", f"{branch}:calc.py")
    assert "big.bin" not in bare(stack, "log", "--all", "--name-only", "--format=", f"main..{branch}")
    assert "Co-authored-by: alice" in bare(stack, "log", "-1", "--format=%B", branch)


def test_replace_objects_cannot_make_the_shown_diff_differ_from_the_pushed_one(stack, redis_conn):
    run, _ = run_with(stack, redis_conn, [
        write("calc.py", sample_repo.FIXED_CALC),
        shell("echo 'FAKE BASE' >> README.md && git add README.md && "
              "fake=$(git -c user.name=x -c user.email=x@x commit-tree $(git write-tree) -p HEAD -m fake) && "
              "git replace HEAD $fake && printf '# calc\\n\\nA tiny calculator.\\n' > README.md"),
        finish()])
    assert run.status == "succeeded", run.error
    shown = redis_conn.get(diff_key(run.run_id)).decode()
    pushed = bare(stack, "diff", f"main..{run.branch}")
    assert shown == pushed
    assert "FAKE BASE" not in pushed


def test_git_settings_in_the_workspace_do_not_hide_the_change_from_the_diff(stack, redis_conn):
    run, _ = run_with(stack, redis_conn, [
        write("calc.py", sample_repo.FIXED_CALC),
        write(".config/git/attributes", "* -diff\n"),
        write(".config/git/ignore", "sneaky.py\n"),
        write("sneaky.py", "print('I ride along')\n"),
        finish()])
    assert run.status == "succeeded", run.error
    shown = redis_conn.get(diff_key(run.run_id)).decode()
    assert "+    return a + b" in shown and "Binary files" not in shown
    assert "sneaky.py" in shown  # what is pushed is shown: nothing rides along unseen
    assert shown == bare(stack, "diff", f"main..{run.branch}")


def test_fifos_left_for_the_worker_do_not_hang_it(stack, redis_conn):
    run, took = run_with(stack, redis_conn, [
        shell("mkfifo trap.py"),
        write("trap.py", "x = 1\n"),
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "trap.py"}}]},
        write("calc.py", sample_repo.FIXED_CALC),
        shell("rm trap.py; rm -f .git/config && mkfifo .git/config"),
        finish()], timeout=90)
    assert took < 60
    assert run.status == "succeeded", run.error
    assert "a + b" in bare(stack, "show", f"{run.branch}:calc.py")


def test_a_huge_file_read_by_the_agent_costs_the_worker_no_memory(stack, redis_conn):
    run, _ = run_with(stack, redis_conn, [
        shell("head -c 67108864 /dev/zero | tr '\\0' 'a' > huge.txt"),
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "huge.txt"}}]},
        shell("rm huge.txt"),
        write("calc.py", sample_repo.FIXED_CALC),
        finish()])
    assert run.status == "succeeded", run.error
    transcript = json.loads(redis_conn.get(transcript_key(run.run_id)))
    output = transcript["steps"][1]["tool_calls"][0]["output"]
    assert "huge.txt" in output and "MB" in output and "aaaa" not in output


def test_a_pull_request_from_the_default_branch_is_never_pushed_to(stack, redis_conn):
    stack.github.commit_files(REPO, "release", {"NOTES.md": "release notes\n"}, "a release branch")
    main_before = stack.github.branch_head(REPO, "main")
    pull = stack.github.open_pull(REPO, "main", "Merge main into release", base="release", user="alice")
    stack.model.set_script([write("calc.py", sample_repo.FIXED_CALC), finish()])
    run_id = json.loads(stack.github.comment_as("alice", REPO, pull["number"], "/codex fix it").response)["run_id"]
    proc = stack.run_worker_burst(timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "default branch" in run.error
    assert stack.github.branch_head(REPO, "main") == main_before


def test_the_agents_summary_cannot_close_other_issues_or_mention_people(stack, redis_conn):
    other = stack.github.open_issue(REPO, "Unrelated", "keep me open", user="alice")["number"]
    run, _ = run_with(stack, redis_conn, [
        write("calc.py", sample_repo.FIXED_CALC),
        finish(f"Fixes #{other}. Closes octo/calc#{other}. cc @admin @octo/owners please merge")])
    assert run.status == "succeeded", run.error
    [pull] = stack.github.list_pulls(REPO)
    body = pull["body"]
    for active in (f"Fixes #{other}", f"Closes octo/calc#{other}", " @admin", " @octo/owners"):
        assert active not in body, body
    assert f"`#{other}`" in body and "`@admin`" in body
    message = bare(stack, "log", "-1", "--format=%B", run.branch)
    assert f"Fixes #{other}" not in message and " @admin" not in message


def test_an_agent_that_fills_the_disk_is_stopped_and_nothing_is_published(redis_server, redis_conn, tmp_path):
    """CODEXBOT_DISK_MB on the server: a scripted agent writes 40 MB into a workspace allowed 16."""
    with Stack(redis_server.url, workdir=tmp_path, overrides={"disk_mb": 16}) as stack:
        stack.model.set_script([
            {"tool_calls": [{"name": "shell", "arguments": {"command": "head -c 40000000 /dev/zero > fill.bin"}}]},
            {"tool_calls": [{"name": "finish", "arguments": {"summary": "done"}}]}])
        number = stack.github.open_issue(sample_repo.REPO, "t", "", user="alice")["number"]
        run_id = json.loads(stack.github.comment_as("alice", sample_repo.REPO, number, "/codex fill it").response)["run_id"]
        assert stack.run_worker_burst(timeout=120).returncode == 0
        run = load_run(redis_conn, run_id)
        assert run.status == "failed" and "over the run's disk quota of 16 MB (CODEXBOT_DISK_MB)" in run.error
        assert stack.github.list_pulls(sample_repo.REPO) == []
