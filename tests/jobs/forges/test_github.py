"""GitHubForge against the GitHub emulator over real HTTP: PyGithub, requests and git do the talking."""

from __future__ import annotations

import os
import subprocess

import pytest

from jobs.forges.base import (ForgeError, ForgeNotFound, ForgePermissionError,
                              GitCredentials)
from jobs.forges.github import GitHubForge
from jobs.forges.github_app import GitHubApp
from tests.emulators.github import GitHubEmulator
from tests.forge_races import RaceAfterLookup

REPO, OTHER = "octo/app", "octo/other"
MARKER = "<!-- codexbot:run=abc123 -->"
CONFIG = '[codexbot]\ntest = "pytest -q"\n'


@pytest.fixture
def github_emu():
    with GitHubEmulator(app_id=4242) as emu:
        emu.create_repo(REPO, {"README.md": "hello\n", ".codexbot.toml": CONFIG})
        emu.create_repo(OTHER, {"README.md": "other\n"})
        emu.add_installation(77, [REPO, OTHER])
        yield emu
        assert emu.errors == []


@pytest.fixture
def forge(github_emu):
    forge = make_forge(github_emu)
    yield forge
    forge.close()


def make_forge(emu: GitHubEmulator, repo: str = REPO, installation_id: int = 77,
               repo_id: int | None = None, kind: type[GitHubForge] = GitHubForge) -> GitHubForge:
    app = GitHubApp(emu.url, emu.app_id, emu.app_private_key_pem)
    return kind(app, installation_id, repo, repo_id or emu.state.repo(repo)["id"])


class RacedForge(RaceAfterLookup, GitHubForge):
    """Lets another attempt of the job open the pull request right after our look-up found none."""


def test_repository_and_issue_are_project_dataclasses(github_emu, forge):
    repo = forge.repository()
    assert (repo.full_name, repo.default_branch) == (REPO, "main")
    assert repo.clone_url == f"{github_emu.url}/{REPO}.git" and repo.id == github_emu.state.repo(REPO)["id"]
    number = github_emu.open_issue(REPO, "Flaky test", None, user="alice")["number"]
    issue = forge.issue(number)
    assert (issue.title, issue.body, issue.state, issue.is_pull_request, issue.pull) == (
        "Flaky test", "", "open", False, None)
    assert issue.url == f"{github_emu.url}/{REPO}/issues/{number}"


def test_issue_of_a_pull_request_carries_head_and_base(github_emu, forge):
    sha = github_emu.commit_files(REPO, "feature", {"a.txt": "a"})
    number = github_emu.open_pull(REPO, "feature", "Add a", body="Adds a")["number"]
    issue = forge.issue(number)
    assert issue.is_pull_request and issue.pull.number == number
    assert (issue.pull.head_branch, issue.pull.head_repo, issue.pull.head_sha, issue.pull.base_branch) == (
        "feature", REPO, sha, "main")


def test_token_is_scoped_to_the_forges_repository(github_emu, forge):
    forge.repository()
    tokens = {r["token"] for r in github_emu.requests if r["token"]}
    assert [github_emu.token(t)["repo_ids"] for t in tokens] == [[github_emu.state.repo(REPO)["id"]]]
    elsewhere = make_forge(github_emu, repo=OTHER, repo_id=github_emu.state.repo(REPO)["id"])
    with pytest.raises(ForgeNotFound) as error:
        elsewhere.repository()
    assert str(error.value) == f"the GitHub App cannot access {OTHER}: install the App on that repository"
    elsewhere.close()


def test_comment_edit_and_find_by_marker_only_among_the_bots_comments(github_emu, forge):
    number = github_emu.open_issue(REPO, "Bug")["number"]
    github_emu.add_comment("mallory", REPO, number, f"fake tracking {MARKER}")
    assert forge.find_comment(number, MARKER) is None
    posted = forge.comment(number, f"Working on it {MARKER}")
    assert posted.author == "codexbot[bot]" and posted.url.endswith(f"#issuecomment-{posted.id}")
    forge.edit_comment(posted.id, f"Done {MARKER}")
    found = forge.find_comment(number, MARKER)
    assert (found.id, found.body) == (posted.id, f"Done {MARKER}")
    assert [c["body"] for c in github_emu.comments(REPO, number)][-1] == f"Done {MARKER}"


def test_reactions_are_idempotent(github_emu, forge):
    number = github_emu.open_issue(REPO, "Bug")["number"]
    comment = github_emu.add_comment("alice", REPO, number, "/codex fix it")
    for _ in range(2):
        forge.react(number, comment["id"], "eyes")
        forge.react(number, None, "rocket")
    assert github_emu.comments(REPO, number)[0]["reactions"]["eyes"] == 1
    assert github_emu.issue(REPO, number)["reactions"]["rocket"] == 1


def test_permission_levels_for_collaborators_and_outsiders(github_emu, forge):
    github_emu.add_user("alice", {REPO: "maintain"})
    github_emu.add_user("bob", {REPO: "triage"})
    github_emu.add_user("eve")
    assert [forge.permission(u) for u in ("octo", "alice", "bob", "eve")] == [
        "admin", "maintain", "triage", "none"]
    with pytest.raises(ForgeNotFound, match="GitHub has no user ghost"):
        forge.permission("ghost")


def test_open_pull_request_twice_gives_the_same_pull(github_emu, forge):
    sha = github_emu.commit_files(REPO, "codexbot/run-1", {"fix.txt": "fixed"})
    assert forge.find_pull_request("codexbot/run-1") is None
    first = forge.open_pull_request("codexbot/run-1", "main", "Fix", "Fixes #1")
    second = forge.open_pull_request("codexbot/run-1", "main", "Fix again", "")
    assert first == second and first.head_sha == sha and first.state == "open"
    assert len(github_emu.list_pulls(REPO)) == 1
    assert forge.find_pull_request("codexbot/run-1") == first
    updated = forge.update_pull_request(first.number, body="Fixes #1, with tests")
    assert (updated.title, updated.body) == ("Fix", "Fixes #1, with tests")


def test_open_pull_request_returns_the_pull_opened_by_a_racing_attempt(github_emu):
    github_emu.commit_files(REPO, "codexbot/run-2", {"fix.txt": "fixed"})
    forge = make_forge(github_emu, kind=RacedForge)
    raced = []
    forge.racer = lambda: raced.append(github_emu.open_pull(REPO, "codexbot/run-2", "Fix"))
    assert forge.open_pull_request("codexbot/run-2", "main", "Fix", "").number == raced[0]["number"]
    assert len(github_emu.list_pulls(REPO)) == 1
    assert any(r["method"] == "POST" and r["status"] == 422 for r in github_emu.requests)
    forge.close()


def test_pull_request_from_a_missing_branch_is_refused_with_githubs_reason(forge):
    with pytest.raises(ForgeError) as error:
        forge.open_pull_request("nothing-new", "main", "Nope", "")
    assert type(error.value) is ForgeError
    assert str(error.value).startswith(
        f"GitHub refused to open a pull request from nothing-new into main in {REPO} (422: Validation Failed")


def test_read_file_present_and_absent(forge):
    assert forge.read_file(".codexbot.toml", "main") == CONFIG
    assert forge.read_file("missing.toml", "main") is None


def test_check_run_starts_in_progress_and_completes(github_emu, forge):
    sha = github_emu.branch_head(REPO, "main")
    check_id = forge.start_check(sha, "codexbot", "http://codexbot.example/runs/1")
    assert github_emu.check_runs(REPO)[0]["status"] == "in_progress"
    forge.finish_check(check_id, "success", "Tests pass", "x" * 70_000)
    run = github_emu.check_runs(REPO)[0]
    assert (run["status"], run["conclusion"], run["output"]["title"]) == ("completed", "success", "Tests pass")
    assert len(run["output"]["summary"]) == 65535 and run["output"]["summary"].endswith("limit)")


def git(*args: str, cwd: str | None = None, home: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": home, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def helper(credentials: GitCredentials) -> str:
    return (f"credential.helper=!f() {{ echo username={credentials.username}; "
            f"echo password={credentials.password}; }}; f")


def test_read_credentials_clone_but_cannot_push_and_write_credentials_can(github_emu, forge, tmp_path):
    home, work = str(tmp_path), str(tmp_path / "work")
    read, write = forge.git_credentials(write=False), forge.git_credentials(write=True)
    assert read.username == "x-access-token" and read.password not in repr(read)
    assert github_emu.token(read.password)["permissions"] == {"contents": "read", "metadata": "read"}
    cloned = git("-c", helper(read), "clone", f"{github_emu.url}/{REPO}.git", work, home=home)
    assert cloned.returncode == 0, cloned.stderr
    git("commit", "-q", "--allow-empty", "-m", "Fix", cwd=work, home=home)
    refused = git("-c", helper(read), "push", "origin", "HEAD:refs/heads/fix", cwd=work, home=home)
    assert refused.returncode != 0 and "denied" in refused.stderr
    pushed = git("-c", helper(write), "push", "origin", "HEAD:refs/heads/fix", cwd=work, home=home)
    assert pushed.returncode == 0, pushed.stderr
    assert [p["token"] for p in github_emu.pushes] == [write.password]


def test_close_revokes_every_token_the_forge_minted(github_emu):
    forge = make_forge(github_emu)
    forge.repository()
    minted = [forge.git_credentials(write=False).password, forge.git_credentials(write=True).password]
    minted += [r["token"] for r in github_emu.requests if r["token"] and r["token"] not in minted]
    assert len(set(minted)) == 3
    forge.close()
    assert all(github_emu.token(t)["revoked"] for t in minted)


def test_uninstalled_app_and_missing_issue_say_what_to_fix(github_emu):
    gone = make_forge(github_emu, installation_id=99)
    with pytest.raises(ForgeNotFound, match="installation 99 not found: the App was uninstalled"):
        gone.comment(1, "hi")
    gone.close()
    forge = make_forge(github_emu)
    with pytest.raises(ForgeNotFound, match=f"GitHub found no issue #404 in {REPO}: check it exists"):
        forge.issue(404)
    forge.close()


def test_installation_without_checks_permission_names_it(github_emu):
    github_emu.add_installation(78, [OTHER], permissions={
        "contents": "write", "metadata": "read", "issues": "write", "pull_requests": "write"})
    forge = make_forge(github_emu, repo=OTHER, installation_id=78)
    with pytest.raises(ForgePermissionError, match="the App lacks permission checks: write"):
        forge.start_check(github_emu.branch_head(OTHER, "main"), "codexbot", "")
    forge.close()
