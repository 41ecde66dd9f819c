"""The run's checkout against a real git server (the emulator's git http-backend)."""

import pytest

from jobs import workspace
from jobs.forges.base import GitCredentials
from tests.emulators.github import GitHubEmulator

REPO = "octo/ws"


@pytest.fixture(scope="module")
def gh():
    with GitHubEmulator() as emu:
        emu.create_repo(REPO, {"a.txt": "one\n"})
        emu.add_installation(5, [REPO])
        yield emu


def creds(gh, perms):
    return GitCredentials("x-access-token", gh.issue_token(5, [REPO], perms))


def test_clone_leaves_no_token_on_disk(gh, tmp_path):
    read = creds(gh, {"contents": "read"})
    workspace.clone(f"{gh.url}/{REPO}.git", tmp_path / "w", read, "main")
    assert (tmp_path / "w" / "a.txt").read_text() == "one\n"
    for path in (tmp_path / "w" / ".git").rglob("*"):
        if path.is_file():
            assert read.password.encode() not in path.read_bytes(), path


def test_clone_failure_is_one_clear_error(gh, tmp_path):
    with pytest.raises(workspace.WorkspaceError, match="could not be cloned"):
        workspace.clone(f"{gh.url}/octo/missing.git", tmp_path / "w", creds(gh, {"contents": "read"}))
    assert not (tmp_path / "w").exists()


def test_commit_and_push_new_branch_then_refuse_a_moved_branch(gh, tmp_path):
    read, write = creds(gh, {"contents": "read"}), creds(gh, {"contents": "write"})
    w = tmp_path / "w"
    workspace.clone(f"{gh.url}/{REPO}.git", w, read, "main")
    assert workspace.create_branch(w, "codex/1-abc", read) is False
    assert workspace.commit_all(w, "nothing", workspace.Identity("bot", "bot@x")) is None
    (w / "b.txt").write_text("two\n")
    sha = workspace.commit_all(w, "Add b\n\nCo-authored-by: a <a@x>\n", workspace.Identity("bot", "bot@x"))
    with pytest.raises(workspace.WorkspaceError):
        workspace.push(w, "codex/1-abc", read)  # a read token cannot push
    workspace.push(w, "codex/1-abc", write)
    assert gh.branch_head(REPO, "codex/1-abc") == sha
    assert "b.txt" in workspace.diff_stat(w, "refs/remotes/origin/main")

    other = tmp_path / "other"
    workspace.clone(f"{gh.url}/{REPO}.git", other, read, "main")
    assert workspace.create_branch(other, "codex/1-abc", read) is True  # continues from the pushed branch
    assert workspace.head_sha(other) == sha
    (w / "c.txt").write_text("three\n")
    workspace.commit_all(w, "Add c", workspace.Identity("bot", "bot@x"))
    workspace.push(w, "codex/1-abc", write)
    (other / "d.txt").write_text("four\n")
    workspace.commit_all(other, "Add d", workspace.Identity("bot", "bot@x"))
    with pytest.raises(workspace.PushRejected, match="branch moved"):
        workspace.push(other, "codex/1-abc", write)


def test_reset_git_dir_removes_planted_hooks_and_config(gh, tmp_path):
    w = tmp_path / "w"
    workspace.clone(f"{gh.url}/{REPO}.git", w, creds(gh, {"contents": "read"}), "main")
    saved = (w / ".git" / "config").read_text()
    (w / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\ntouch /tmp/pwned-by-hook\n")
    (w / ".git" / "config").write_text(saved + "[core]\n\tfsmonitor = touch /tmp/pwned-by-fsmonitor\n")
    workspace.reset_git_dir(w, saved)
    (w / "x.txt").write_text("x")
    workspace.commit_all(w, "x", workspace.Identity("bot", "bot@x"))
    assert (w / ".git" / "config").read_text() == saved and not (w / ".git" / "hooks").exists()
