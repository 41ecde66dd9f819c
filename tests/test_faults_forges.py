"""Forge API faults through the real stack: 502s, rate limits and rejected tokens are retried as the forges ask.

The emulators answer chosen requests with the fault (tests/emulators/faults.py); a real `codexbot worker`
runs the job; the run log, the metrics in Redis and the emulator's request record show what happened.
"""

import json
from dataclasses import replace

import pytest

from jobs.metrics import read_metric
from jobs.records.runs import load_run, read_log
from tests import sample_repo
from tests.stack import Stack

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPO = sample_repo.REPO
REPO_PATH = f"/repos/{REPO}$"
COMMENTS = rf"/repos/{REPO}/issues/\d+/comments$"
TRACKING_EDIT = rf"/repos/{REPO}/issues/comments/\d+$"


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        stack.settings = replace(stack.settings, forge_backoff=0.1)  # the workers' backoff: 0, 0.2, 0.4 s
        yield stack
        assert stack.github.errors == [] and stack.gitlab.errors == []


def ask_github(stack) -> tuple[int, str]:
    number = stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="alice")["number"]
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test")
    assert delivery.status == 202, delivery.response
    return number, json.loads(delivery.response)["run_id"]


def work(stack) -> None:
    proc = stack.run_worker_burst(timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]


def hits(stack, method: str, path_end: str) -> int:
    return len([r for r in stack.github.requests if r["method"] == method and r["path"].endswith(path_end)])


def metric(redis_conn, name: str, **labels) -> float:
    return sum(v for l, v in read_metric(redis_conn, name) if all(l.get(k) == x for k, x in labels.items()))


def test_github_502s_rate_limits_and_a_rejected_fresh_token_are_retried_and_logged(stack, redis_conn):
    gh = stack.github.faults
    bad_gateway = gh.fail("GET", REPO_PATH, 502, times=2, body={"message": "Server Error"})
    secondary = gh.fail("POST", COMMENTS, 403, headers={"Retry-After": "1"},
                        body={"message": "You have exceeded a secondary rate limit."})
    too_many = gh.fail("PATCH", TRACKING_EDIT, 429, headers={"Retry-After": "1"}, body={"message": "slow down"})
    rejected = gh.fail("GET", rf"/repos/{REPO}/collaborators/alice/permission$", 401,
                       body={"message": "Bad credentials"})
    number, run_id = ask_github(stack)
    work(stack)

    run, log = load_run(redis_conn, run_id), "\n".join(read_log(redis_conn, run_id))
    assert run.status == "succeeded", log
    assert (bad_gateway.hits, secondary.hits, too_many.hits, rejected.hits) == (2, 1, 1, 1)
    assert f"GET /repos/{REPO} answered 502; retrying in" in log
    assert "rate limited (403); retrying in 1.0 s" in log and "rate limited (429); retrying in 1.0 s" in log
    assert "github API: the token was rejected (401); minted a new one" in log
    assert len(stack.github.list_pulls(REPO)) == 1
    tracking = [c for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1, "a retried POST must not post the tracking comment twice"
    assert metric(redis_conn, "forge_retries", forge="github", reason="server_error") == 2
    assert metric(redis_conn, "forge_retries", forge="github", reason="rate_limit") == 2
    assert metric(redis_conn, "forge_retries", forge="github", reason="token_rejected") == 1
    assert metric(redis_conn, "forge_wait_seconds", forge="github", reason="rate_limit") == 2.0
    assert metric(redis_conn, "forge_api_calls", forge="github", outcome="ok") > 5
    assert metric(redis_conn, "forge_api_calls", forge="github", outcome="401") == 1


def test_a_post_answered_502_is_not_sent_twice_and_the_run_says_why(stack, redis_conn):
    gh = stack.github.faults
    gh.fail("POST", rf"/repos/{REPO}/pulls$", 502, times=1, body={"message": "Server Error"})
    number, run_id = ask_github(stack)
    work(stack)
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "GitHub answered 502 trying to open a pull request" in run.error
    assert hits(stack, "POST", f"/repos/{REPO}/pulls") == 0  # the 502 answered for the emulator
    tracking = [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "failed" in tracking[0] and "GitHub answered 502" in tracking[0]


def test_github_down_for_good_ends_the_run_failed_with_the_reason_on_the_issue(stack, redis_conn):
    stack.github.faults.fail("GET", REPO_PATH, 502, times=50, body={"message": "Server Error"})
    number, run_id = ask_github(stack)
    work(stack)
    run, log = load_run(redis_conn, run_id), "\n".join(read_log(redis_conn, run_id))
    assert run.status == "failed", log
    assert "GitHub answered 502 trying to read the repository" in run.error and "retry" in run.error
    assert log.count("answered 502; retrying in") == 4  # CODEXBOT's 4 retries, then the run gives up
    tracking = [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "GitHub answered 502" in tracking[0]
    assert stack.github.list_pulls(REPO) == []


def test_a_long_rate_limit_is_not_waited_out_and_the_run_says_why(stack, redis_conn):
    stack.github.faults.fail("GET", REPO_PATH, 429, times=1, headers={"Retry-After": "3600"},
                             body={"message": "API rate limit exceeded"})
    number, run_id = ask_github(stack)
    work(stack)
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "rate limit" in run.error and "wait for the limit to reset" in run.error


def test_gitlab_502s_and_429s_are_retried_and_logged(stack, redis_conn):
    gl = stack.gitlab.faults
    bad_gateway = gl.fail("GET", r"/api/v4/projects/[^/]+(/[^/]+)?$", 502, times=2, body={"message": "502"})
    too_many = gl.fail("POST", r"/notes$", 429, headers={"Retry-After": "1"}, body={"message": "429 Too Many"})
    issue = stack.gitlab.open_issue(REPO, "Tests fail", "test_add fails", author="alice")
    delivery = stack.gitlab.note_as("alice", REPO, issue["iid"], "/codex fix the failing test")
    assert delivery.status == 202, delivery.response
    run_id = json.loads(delivery.response)["run_id"]
    work(stack)
    run, log = load_run(redis_conn, run_id), "\n".join(read_log(redis_conn, run_id))
    assert run.status == "succeeded", log
    assert (bad_gateway.hits, too_many.hits) == (2, 1)
    assert "gitlab API: GET /api/v4/projects/" in log and "answered 502; retrying in" in log
    assert "rate limited (429); retrying in 1.0 s" in log
    assert len(stack.gitlab.merge_requests(REPO)) == 1
    notes = [n for n in stack.gitlab.notes(REPO, issue["iid"]) if run_id in n["body"]]
    assert len(notes) == 1
    assert metric(redis_conn, "forge_retries", forge="gitlab", reason="server_error") == 2
    assert metric(redis_conn, "forge_retries", forge="gitlab", reason="rate_limit") == 1


@pytest.fixture
def github_forge():
    """A GitHubForge on the emulator, with its waits and counters kept in lists."""
    from jobs.forges.github import GitHubForge
    from jobs.forges.retrying import ApiWatch
    from jobs.forges.github_app import GitHubApp
    from tests.emulators.github import GitHubEmulator

    with GitHubEmulator() as emu:
        record = emu.create_repo(REPO, sample_repo.FILES)
        emu.add_installation(77, [REPO])
        lines, counts = [], []
        watch = ApiWatch("github", lines.append, lambda name, labels, amount: counts.append((name, labels, amount)))
        forge = GitHubForge(GitHubApp(emu.url, emu.app_id, emu.app_private_key_pem), 77, REPO, record["id"],
                            watch=watch, backoff=0.01)
        yield emu, forge, lines, counts
        forge.close()


@pytest.mark.faults
def test_a_rejected_token_is_replaced_once_then_the_error_says_why(github_forge):
    from jobs.forges.base import ForgeAuthError

    emu, forge, lines, counts = github_forge
    forge.repository()
    for token in {r["token"] for r in emu.requests if r["token"]}:
        emu.state.tokens[token]["expires"] = 0  # as if GitHub's clock ran ahead of ours
    assert forge.repository().full_name == REPO  # a new token was minted and the call tried again
    assert lines == ["github API: the token was rejected (401); minted a new one, trying once more"]
    emu.faults.fail("GET", REPO_PATH, 401, times=2, body={"message": "Bad credentials"})
    with pytest.raises(ForgeAuthError, match="rejected the App's token trying to read the repository"):
        forge.repository()
    assert [c for c in counts if c[0] == "forge_retries"] == [
        ("forge_retries", {"forge": "github", "reason": "token_rejected"}, 1)] * 2


@pytest.mark.faults
def test_a_dropped_connection_is_retried_for_reads_but_never_for_a_comment(github_forge):
    from jobs.forges.base import ForgeUnavailable

    emu, forge, lines, counts = github_forge
    number = emu.open_issue(REPO, "Tests fail")["number"]
    emu.faults.reset("GET", REPO_PATH)
    assert forge.repository().full_name == REPO
    assert lines == ["github API: repository: the answer was cut off; retrying in 0.5 s"]
    emu.faults.reset("POST", COMMENTS)
    with pytest.raises(ForgeUnavailable, match="could not reach GitHub"):
        forge.comment(number, "hello")
    assert len(lines) == 1 and emu.comments(REPO, number) == []
