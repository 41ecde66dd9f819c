"""What `demo.py` shows as a person would see it: the task (`/codex fix` on an issue, the default), `--scenario
review` (`/codex review` on a pull request) and `--scenario ci` (codexbot's pull request fails CI and is repaired),
on the demo's emulated forge, worker and model (recorded model answers unless a real model is set)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import redis

from jobs.records.runs import Run, load_run, read_log
from tests import sample_repo

REPO = sample_repo.REPO
TIMEOUT = 600  # seconds one run may take before the demo stops waiting
FEATURE = sample_repo.FILES["calc.py"] + "\n\ndef div(a, b):\n    return a / b\n"
REVIEW_SCRIPT = [
    {"tool_calls": [{"name": "shell", "arguments": {"command": "git diff refs/codexbot/base...HEAD"}}]},
    {"tool_calls": [{"name": "comment", "arguments": {
        "path": "calc.py", "line": 7, "severity": "P0",
        "body": "div(a, 0) raises ZeroDivisionError; callers pass user input here. Check b and raise ValueError."}}]},
    {"tool_calls": [{"name": "finish", "arguments": {"summary": "Adds div without guarding against zero."}}]},
]
SUB_TEST = "from calc import sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n"
WITH_SUB = sample_repo.FIXED_CALC + "\n\ndef sub(a, b):\n    return a - b\n"
REPAIR_SCRIPT = [
    {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": WITH_SUB}}]},
    {"tool_calls": [{"name": "finish", "arguments": {"summary": "Add sub, which test_sub in CI needs."}}]},
]


def run_tests_at(forge, ref: str, workdir: Path) -> tuple[int, str]:
    """Clone the emulated repository at ref (as a reader) and run its tests, as a person would."""
    user, token = forge.reader_credentials()
    dest = workdir / f"check-{ref.replace('/', '-')}"
    helper = f"!f() {{ echo username={user}; echo password={token}; }}; f"
    subprocess.run(["git", "-c", f"credential.helper={helper}", "clone", "-q", "--branch", ref,
                    f"{forge.emu.url}/{sample_repo.REPO}.git", str(dest)], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=dest,
                          capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, (proc.stdout.strip().splitlines() or ["(no output)"])[-1]


def print_log(conn: redis.Redis, run_id: str, seen: int, prefix: str = "    ") -> tuple[int, Run | None]:
    """Print the run's log lines after the first `seen`; the lines printed in all, and the run once it has ended."""
    lines = read_log(conn, run_id, seen)
    for line in lines:
        print(prefix + line)
    run = load_run(conn, run_id)
    return seen + len(lines), run if run is not None and run.is_final else None


def follow(conn: redis.Redis, run_id: str) -> str:
    """Print the run's log as it grows until the run ends; the run's final status."""
    seen, deadline = 0, time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        seen, ended = print_log(conn, run_id, seen)
        if ended is not None:
            return ended.status
        time.sleep(0.3)
    return "timed out"


def show_flow(forge, conn: redis.Redis, workdir: Path) -> tuple[int, int, str]:
    """The main job as a person sees it: exit code, issue number and run page link."""
    code, before = run_tests_at(forge, "main", workdir)
    print(f"Tests on main before:  {before}")
    number = forge.open_issue()
    print(f'\nalice comments "/codex fix the failing test" on {sample_repo.REPO}#{number}')
    delivery = forge.comment(number, "/codex fix the failing test")
    print(f"  webhook answered {delivery.status} {delivery.response.strip()}\n  run log:")
    run_id = json.loads(delivery.response)["run_id"]
    status = follow(conn, run_id)
    run = load_run(conn, run_id)
    print(f"\nRun {run_id}: {status}" + (f" ({run.error})" if run.error else ""))
    tracking = next((body for _, _, body in forge.comments(number) if run_id in body and "[Run log](" in body), "")
    link = tracking.split("[Run log](", 1)[1].split(")", 1)[0] if tracking else "(no tracking comment)"
    requests_made = forge.change_requests()
    if status != "succeeded" or not requests_made:
        print(f"No {forge.kind}. Worker log: {workdir / 'worker.log'}\nRun page: {link}")
        return 1, number, link
    url, branch, _ = requests_made[0]
    print(f"{forge.kind.capitalize()}: {url}  ({branch} → main)")
    diff = subprocess.run(["git", "-C", forge.bare_repo(), "diff", "main", branch],
                          capture_output=True, text=True, check=True).stdout
    print("\n" + diff)
    code, after = run_tests_at(forge, branch, workdir)
    print(f"Tests on main before:        {before}\nTests on {branch} after: {after}")
    print("Run page: " + link)
    return (0 if code == 0 else 1), number, link


def show_review(forge, conn: redis.Redis, workdir: Path, scripted: bool) -> tuple[int, int, str]:
    """alice opens a pull (merge) request that adds div, asks `/codex review`, and reads the review."""
    emu, gitlab = forge.emu, forge.name == "gitlab"
    emu.commit_files(REPO, "feature", {"calc.py": FEATURE}, "Add div", start="main")
    if gitlab:
        number = emu.open_merge_request(REPO, "feature", "Add div", description="Adds division.", author="alice")["iid"]
    else:
        number = emu.open_pull(REPO, "feature", "Add div", body="Adds division.", user="alice")["number"]
    print(f"alice opens {forge.kind} {number} (feature → main), which adds div(a, b)")
    if scripted:
        forge.stack.model.set_script(REVIEW_SCRIPT)
    run_id = _ask(forge, conn, number, "/codex review", on_request=True)
    if run_id is None:
        return 1, number, ""
    print(f"\nReview: {load_run(conn, run_id).pr_url}\n")
    for where, body in _review_of(forge, number):
        print((f"  on {where}:\n" if where else "") + "\n".join(f"    | {line}" for line in body.splitlines()) + "\n")
    return 0, number, load_run(conn, run_id).pr_url


def _review_of(forge, number: int) -> list[tuple[str, str]]:
    """(where, body) of the review's parts: the summary first (no place), then each line comment."""
    emu = forge.emu
    if forge.name == "gitlab":
        notes = [n for d in emu.discussions(REPO, number) for n in d["notes"] if n["author"]["username"] != "alice"]
        placed = [(f"{n['position']['new_path']}:{n['position']['new_line']}", n["body"]) for n in notes if n.get("position")]
        summary = [("", n["body"]) for n in notes if "codexbot:review=" in n["body"]]
        return summary + placed
    review = [r for r in emu.reviews.reviews.values() if r["number"] == number][-1]
    lines = [c for c in emu.reviews.comments.values() if c["review_id"] == review["id"]]
    return [("", review["body"])] + [(f"{c['path']}:{c['line']}", c["body"]) for c in lines]


def show_ci(forge, conn: redis.Redis, workdir: Path, scripted: bool) -> tuple[int, int, str]:
    """codexbot's pull request fails CI (the repository's tests, run for real on its branch), a repair follows,
    and CI passes."""
    emu = forge.emu
    emu.commit_files(REPO, "main", {"tests/test_sub.py": SUB_TEST}, "Test sub, which calc does not have yet")
    number = forge.open_issue()
    print(f"alice asks for a fix on {REPO}#{number}; main also has tests/test_sub.py, which needs calc.sub")
    if _ask(forge, conn, number, "/codex fix the failing test") is None or not forge.change_requests():
        return 1, number, ""
    url, branch, pull = forge.change_requests()[0]
    print(f"\n{forge.kind.capitalize()}: {url} ({branch})")
    if scripted:
        forge.stack.model.set_script(REPAIR_SCRIPT)
    for round_ in range(3):  # CI, a repair, CI again: bounded
        sha = emu.branch_head(REPO, branch)
        code, log = _ci_job(forge, branch, workdir / f"ci-{round_}")
        conclusion = "success" if code == 0 else "failure"
        print(f"\nCI (job 'tests') on {sha[:12]}: {conclusion}\n    | " + log.replace("\n", "\n    | "))
        delivery = _report_ci(forge, pull, sha, conclusion, log, branch)
        print(f"  CI webhook answered {delivery.status} {delivery.response.strip()}")
        if delivery.status == 202:
            follow(conn, json.loads(delivery.response)["run_id"])
        if conclusion == "success":
            break
        print(f"  repair commit: {emu.branch_head(REPO, branch)}")
    for _, author, body in forge.comments(pull, on_request=True):
        if author != "alice" and any(word in body for word in ("CI fails on", "CI passes on", "CI still fails")):
            print(f"\n{author} on the {forge.kind}:\n    | " + body.strip().splitlines()[-1])
    return (0 if conclusion == "success" else 1), number, url


def _report_ci(forge, pull: int, sha: str, conclusion: str, log: str, branch: str):
    """The forge's CI finishes its job and delivers the webhook: GitHub Actions' check suite, or GitLab's
    merge request pipeline."""
    if forge.name == "gitlab":
        status = "success" if conclusion == "success" else "failed"
        pipeline = forge.emu.ci.pipeline(REPO, sha, {"tests": status}, traces={"tests": log}, merge_request=pull)
        return forge.emu.ci.deliver(pipeline)
    forge.emu.ci.job(REPO, sha, "tests", conclusion, log)
    return forge.emu.ci.suite_completed(REPO, sha, conclusion, branch)


def _ci_job(forge, branch: str, workdir: Path) -> tuple[int, str]:
    """The repository's tests on the branch's head, run for real as a CI job runs them: the exit code and the
    last lines of the output (what codexbot reads from the job's log)."""
    user, token = forge.reader_credentials()
    helper = f"!f() {{ echo username={user}; echo password={token}; }}; f"
    subprocess.run(["git", "-c", f"credential.helper={helper}", "clone", "-q", "--branch", branch,
                    f"{forge.emu.url}/{REPO}.git", str(workdir)], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=workdir,
                          capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])


def _ask(forge, conn, number: int, text: str, on_request: bool = False) -> str | None:
    print(f'\nalice comments "{text}" on {REPO}#{number}')
    delivery = forge.comment(number, text, on_request)
    print(f"  webhook answered {delivery.status} {delivery.response.strip()}\n  run log:")
    if delivery.status != 202:
        return None
    run_id = json.loads(delivery.response)["run_id"]
    status = follow(conn, run_id)
    run = load_run(conn, run_id)
    print(f"\nRun {run_id}: {status}" + (f" ({run.error})" if run.error else ""))
    return run_id if status == "succeeded" else None

