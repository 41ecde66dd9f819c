"""GitLabForge against the GitLab emulator over real HTTP: python-gitlab, requests and git do the talking."""

from __future__ import annotations

import pytest

from jobs.git import workspace
from jobs.forges.base import (ForgeAuthError, ForgeError, ForgeNotFound, ForgePermissionError,
                              ForgeUnavailable, GitCredentials)
from jobs.forges.gitlab import GitLabForge
from tests.emulators.gitlab import GitLabEmulator
from tests.forge_races import RaceAfterLookup
from tests.services import free_port

PROJECT, OTHER = "acme/app", "acme/other"
TOKEN, READ_TOKEN, OTHER_TOKEN = "glpat-app", "glpat-read", "glpat-other"
MARKER = "<!-- codexbot:run=abc123 -->"
CONFIG = '[codexbot]\ntest = "pytest -q"\n'


@pytest.fixture
def gl_emu():
    with GitLabEmulator() as emu:
        emu.create_project(PROJECT, {"README.md": "hello\n", ".codexbot.toml": CONFIG})
        emu.create_project(OTHER, {"README.md": "other\n"})
        emu.add_token(TOKEN, PROJECT)
        emu.add_token(READ_TOKEN, PROJECT, scopes=("read_repository",), access_level=20)
        emu.add_token(OTHER_TOKEN, OTHER)
        emu.open_issue(PROJECT, "Flaky test", "It fails sometimes", "alice")
        emu.commit_files(PROJECT, "feature", {"a.txt": "a"})
        emu.open_merge_request(PROJECT, "feature", "Add a", description="Adds a", author="bob")
        yield emu
        assert emu.errors == []


def make_forge(emu: GitLabEmulator, *, mr: bool = False, token: str = TOKEN, **kwargs) -> GitLabForge:
    return GitLabForge(emu.url, token, PROJECT, is_merge_request=mr, **kwargs)


@pytest.fixture
def forge(gl_emu):
    forge = make_forge(gl_emu)
    yield forge
    forge.close()


def test_repository_is_a_project_dataclass(gl_emu, forge):
    repo = forge.repository()
    assert (repo.full_name, repo.default_branch, repo.id) == (PROJECT, "main", gl_emu.project(PROJECT)["id"])
    assert (repo.clone_url, repo.html_url) == (f"{gl_emu.url}/{PROJECT}.git", f"{gl_emu.url}/{PROJECT}")


def test_issue_one_and_merge_request_one_are_different_things(gl_emu, forge):
    issue = forge.issue(1)
    assert (issue.title, issue.body, issue.state, issue.is_pull_request, issue.pull) == (
        "Flaky test", "It fails sometimes", "open", False, None)
    assert issue.url == f"{gl_emu.url}/{PROJECT}/-/issues/1"
    merge = make_forge(gl_emu, mr=True).issue(1)
    assert (merge.title, merge.body, merge.is_pull_request) == ("Add a", "Adds a", True)
    pull = merge.pull
    assert (pull.number, pull.head_branch, pull.head_repo, pull.base_branch, pull.state) == (
        1, "feature", PROJECT, "main", "open")
    assert pull.head_sha == gl_emu.branch_head(PROJECT, "feature")


def test_notes_go_to_the_issue_or_the_merge_request(gl_emu, forge):
    on_issue = forge.comment(1, "on the issue")
    mr_forge = make_forge(gl_emu, mr=True)
    on_mr = mr_forge.comment(1, "on the merge request")
    mr_forge.edit_comment(on_mr.id, "edited on the merge request")
    forge.edit_comment(on_issue.id, "edited on the issue")
    assert [n["body"] for n in gl_emu.notes(PROJECT, 1)] == ["edited on the issue"]
    assert [n["body"] for n in gl_emu.notes(PROJECT, 1, merge_request=True)] == ["edited on the merge request"]
    assert on_mr.url == f"{gl_emu.url}/{PROJECT}/-/merge_requests/1#note_{on_mr.id}"
    assert on_issue.author.startswith("project_") and "_bot_" in on_issue.author


def test_find_comment_matches_only_the_bots_notes(gl_emu, forge):
    gl_emu.add_note("mallory", PROJECT, 1, f"fake tracking {MARKER}")
    assert forge.find_comment(1, MARKER) is None
    mine = forge.comment(1, f"Working on it {MARKER}")
    found = forge.find_comment(1, MARKER)
    assert (found.id, found.body, found.author) == (mine.id, mine.body, mine.author)
    assert make_forge(gl_emu, mr=True).find_comment(1, MARKER) is None  # not on !1


def test_edit_comment_in_a_new_process_uses_the_triggers_number(gl_emu, forge):
    note = forge.comment(1, "first")
    make_forge(gl_emu, number=1).edit_comment(note.id, "second")
    assert gl_emu.notes(PROJECT, 1)[0]["body"] == "second"
    with pytest.raises(ForgeError, match="number=trigger.number"):
        make_forge(gl_emu).edit_comment(note.id, "third")


def test_react_awards_emoji_once_on_notes_and_noteables(gl_emu, forge):
    note_id = gl_emu.add_note("alice", PROJECT, 1, "/codex fix it")["id"]
    forge.react(1, note_id, "eyes")
    forge.react(1, note_id, "eyes")  # a retried job: the existing award is fine
    forge.react(1, None, "rocket")
    assert [a["name"] for a in gl_emu.award_emoji(PROJECT, 1, note_id=note_id)] == ["eyes"]
    assert [a["name"] for a in gl_emu.award_emoji(PROJECT, 1)] == ["rocket"]
    make_forge(gl_emu, mr=True).react(1, None, "confused")
    assert [a["name"] for a in gl_emu.award_emoji(PROJECT, 1, merge_request=True)] == ["confused"]


@pytest.mark.parametrize("level, role", [(10, "read"), (20, "triage"), (30, "write"), (40, "maintain"),
                                         (50, "admin")])
def test_access_levels_map_to_roles(gl_emu, forge, level, role):
    gl_emu.add_user("carol", {PROJECT: level})
    assert forge.permission("carol") == role


def test_group_members_count_and_outsiders_are_not_found(gl_emu, forge):
    gl_emu.add_user("dave", {"acme": 30})
    gl_emu.add_user("eve")
    assert forge.permission("dave") == "write"
    with pytest.raises(ForgeNotFound, match="eve is not a member"):
        forge.permission("eve")
    with pytest.raises(ForgeNotFound, match="no user nobody"):
        forge.permission("nobody")


def test_open_pull_request_twice_gives_one_merge_request(gl_emu, forge):
    gl_emu.commit_files(PROJECT, "codex/run-1", {"fix.txt": "fixed"})
    first = forge.open_pull_request("codex/run-1", "main", "Fix the flaky test", "Fixes #1")
    again = forge.open_pull_request("codex/run-1", "main", "Fix the flaky test", "Fixes #1")
    assert first == again and first.number == 2 and first.body == "Fixes #1"
    assert [m["source_branch"] for m in gl_emu.merge_requests(PROJECT)] == ["feature", "codex/run-1"]
    assert forge.find_pull_request("codex/run-1") == first and forge.find_pull_request("nope") is None
    updated = forge.update_pull_request(first.number, title="Fix it", body="Fixes #1 and more")
    assert (updated.title, updated.body) == ("Fix it", "Fixes #1 and more")


class RacedForge(RaceAfterLookup, GitLabForge):
    """Lets another attempt of the job open the merge request right after our look-up found none."""


def test_open_pull_request_after_a_race_returns_the_existing_one(gl_emu):
    gl_emu.commit_files(PROJECT, "codex/run-2", {"fix.txt": "fixed"})
    forge = RacedForge(gl_emu.url, TOKEN, PROJECT, is_merge_request=False)
    forge.racer = lambda: gl_emu.open_merge_request(PROJECT, "codex/run-2", "Opened by the other attempt")
    pull = forge.open_pull_request("codex/run-2", "main", "Fix", "Fixes #1")
    assert pull.title == "Opened by the other attempt" and len(gl_emu.merge_requests(PROJECT)) == 2
    assert any(r["method"] == "POST" and r["status"] == 409 for r in gl_emu.requests)


def test_read_file_returns_text_or_none(gl_emu, forge):
    assert forge.read_file(".codexbot.toml", "main") == CONFIG
    assert forge.read_file("a.txt", "feature") == "a"
    assert forge.read_file("missing.md", "main") is None
    gl_emu.commit_files(PROJECT, "main", {"blob.bin": b"\xff\xfe"})
    with pytest.raises(ForgeError, match="not UTF-8"):
        forge.read_file("blob.bin", "main")


def test_git_credentials_clone_and_push_with_the_project_token(gl_emu, forge, tmp_path):
    creds = forge.git_credentials(write=False)
    assert creds == GitCredentials("oauth2", TOKEN) and TOKEN not in repr(creds)
    work = tmp_path / "work"
    workspace.clone(forge.repository().clone_url, work, creds, "main")
    assert TOKEN not in (work / ".git" / "config").read_text()
    (work / "new.txt").write_text("new\n")
    workspace.commit_all(work, "Add new", workspace.Identity("codexbot", "codexbot@example.com"))
    workspace.push(work, "codex/run-3", forge.git_credentials(write=True))
    assert gl_emu.read_file_at(PROJECT, "codex/run-3", "new.txt") == "new\n"
    with pytest.raises(workspace.WorkspaceError, match="not allowed to push"):
        workspace.push(work, "codex/run-4", make_forge(gl_emu, token=READ_TOKEN).git_credentials(write=True))


def test_checks_are_commit_statuses(gl_emu, forge):
    sha = gl_emu.branch_head(PROJECT, "feature")
    check = forge.start_check(sha, "codexbot", "http://127.0.0.1/runs/abc")
    assert forge.start_check(sha, "codexbot", "http://127.0.0.1/runs/abc") == check  # a retried job
    assert gl_emu.commit_statuses(PROJECT, sha)[-1]["status"] == "running"
    forge.finish_check(check, "failure", "2 tests failed " + "x" * 300, "long summary")
    status = gl_emu.commit_statuses(PROJECT, sha)[-1]
    assert (status["id"], status["status"], status["target_url"]) == (check, "failed", "http://127.0.0.1/runs/abc")
    assert status["description"].startswith("2 tests failed") and len(status["description"]) == 255
    with pytest.raises(ForgeError, match="not started by this run"):
        make_forge(gl_emu).finish_check(check, "success", "ok", "")


def test_failures_become_forge_errors_that_say_what_to_fix(gl_emu, forge):
    with pytest.raises(ForgeAuthError, match="codexbot gitlab add-token"):
        make_forge(gl_emu, token="glpat-revoked").issue(1)
    with pytest.raises(ForgePermissionError, match="api scope"):
        make_forge(gl_emu, token=READ_TOKEN).comment(1, "hello")
    with pytest.raises(ForgeNotFound, match="acme/app"):
        make_forge(gl_emu, token=OTHER_TOKEN).repository()
    with pytest.raises(ForgeNotFound, match="issue #9"):
        forge.issue(9)
    down = GitLabForge(f"http://127.0.0.1:{free_port()}", TOKEN, PROJECT, is_merge_request=False)
    with pytest.raises(ForgeUnavailable, match="CODEXBOT_GITLAB_URL"):
        down.repository()


def test_repr_and_close_keep_the_token_out_of_sight(gl_emu, forge):
    assert TOKEN not in repr(forge)
    forge.close()
    forge.close()  # nothing to revoke, so closing twice is harmless
