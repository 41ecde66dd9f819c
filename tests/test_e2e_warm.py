"""Warm environments through the whole product: the second run on an unchanged repository gets what the first
run's setup made and skips setup; `--fresh`, or a changed lockfile, sets up again."""

from __future__ import annotations

import json

from jobs.records.runs import load_run, read_log
from tests import sample_repo

REPO = sample_repo.REPO
SETUP = ('[setup]\ncommands = ["mkdir -p .venv && sleep 1 && head -c 8 /dev/urandom | od -An -tx1 | tr -d \' \\\\n\' '
         '> .venv/built.txt"]\n')
LOOK = [{"tool_calls": [{"name": "shell", "arguments": {"command": "cat .venv/built.txt"}}]},
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": sample_repo.FIXED_CALC}}]},
        {"tool_calls": [{"name": "finish", "arguments": {"summary": "Fixed add."}}]}]


def ask(stack, redis_conn, text="/codex fix the failing test") -> tuple[list[str], str]:
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    stack.model.set_script(LOOK)
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, text).response)["run_id"]
    proc = stack.run_worker_burst(timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_run(redis_conn, run_id).status == "succeeded", load_run(redis_conn, run_id).error
    seen = json.dumps(stack.model.requests[-2]["messages"][-1]["content"])  # what `cat .venv/built.txt` printed
    return [line.split(" ", 1)[1] for line in read_log(redis_conn, run_id)], seen


def test_the_second_run_gets_the_first_runs_environment_and_skips_setup(stack, redis_conn):
    stack.github.commit_files(REPO, "main", {".codexbot.toml": SETUP, ".gitignore": ".venv/\n"}, "setup")
    cold, cold_seen = ask(stack, redis_conn)
    assert any(line.startswith("setup: mkdir -p .venv") for line in cold)
    assert any(line.startswith("environment kept (key ") for line in cold)

    warm, warm_seen = ask(stack, redis_conn)
    assert any(line.startswith("before the change (kept for ") for line in warm)  # the base's tests ran once
    restored = [line for line in warm if line.startswith("environment restored")]
    assert len(restored) == 1 and "setup skipped, saved 1." in restored[0]
    assert not any(line.startswith("setup: ") for line in warm)
    assert warm_seen == cold_seen and len(cold_seen) > 10  # the same file, made once

    fresh, fresh_seen = ask(stack, redis_conn, "/codex --fresh fix the failing test")
    assert any(line.startswith("setup: mkdir -p .venv") for line in fresh) and fresh_seen != cold_seen
    assert any(line.startswith("environment kept") for line in fresh)  # the fresh one replaces the old
    again, again_seen = ask(stack, redis_conn)
    assert any(line.startswith("environment restored") for line in again) and again_seen == fresh_seen

    stack.github.commit_files(REPO, "main", {"requirements.txt": "tinypkg==1.0\n"}, "a dependency")
    changed, changed_seen = ask(stack, redis_conn)
    assert any(line.startswith("setup: mkdir -p .venv") for line in changed) and changed_seen != fresh_seen
    assert any(line.startswith("before the change, ") for line in changed)  # a new base: its tests run
    assert not any(line.startswith("environment restored") for line in changed)


def test_a_branchs_setup_never_plants_an_environment_for_the_default_branch(stack, redis_conn):
    """A branch whose Makefile (run by setup, outside the key) writes a backdoored tracked file: its run on the
    pull request may use the default branch's environment but never keeps its own."""
    setup = '[setup]\ncommands = ["make setup"]\n'
    clean = "setup:\n\tmkdir -p .venv && echo clean > .venv/built.txt\n"
    stack.github.commit_files(REPO, "main", {".codexbot.toml": setup, ".gitignore": ".venv/\n", "Makefile": clean},
                              "setup")
    evil = ("setup:\n\tmkdir -p .venv && echo planted > .venv/built.txt && "
            "printf 'def add(a, b):\\n    return 666\\n' > calc.py.new\n")
    stack.github.commit_files(REPO, "feature", {"Makefile": evil}, "a branch that plants")
    pull = stack.github.open_pull(REPO, "feature", "plant")
    stack.model.set_script(LOOK)
    run_id = json.loads(stack.github.comment_as("alice", REPO, pull["number"], "/codex fix it").response)["run_id"]
    assert stack.run_worker_burst(timeout=120).returncode == 0
    branch_log = [line.split(" ", 1)[1] for line in read_log(redis_conn, run_id)]
    assert any(line.startswith("setup: make setup") for line in branch_log)
    assert not any(line.startswith("environment kept") for line in branch_log)

    lines, seen = ask(stack, redis_conn)  # the default branch: sets up for itself, nothing planted comes back
    assert any(line.startswith("setup: make setup") for line in lines) and "clean" in seen and "planted" not in seen
