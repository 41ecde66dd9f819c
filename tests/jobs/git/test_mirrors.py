"""The mirror cache and the janitor, with real git against the emulator's smart HTTP."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobs.git import cleanup

from jobs.git import workspace
from jobs.forges.base import GitCredentials
from jobs.git.mirrors import LFS_NOTE, Mirrors, mirror_name, repo_lock
from jobs.sandbox import SandboxError, check_bwrap
from jobs.run.wiring import make_sandbox
from tests.emulators.github import GitHubEmulator

REPO, LFS_REPO = "octo/mirrored", "octo/lfs"
BOT = workspace.Identity("bot", "bot@x")


@pytest.fixture(scope="module")
def gh():
    with GitHubEmulator() as emu:
        emu.create_repo(REPO, {"a.txt": "one\n", "src/b.py": "print('b')\n"})
        emu.create_repo(LFS_REPO, {".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n",
                                   "big.bin": "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n"})
        emu.add_installation(7, [REPO, LFS_REPO])
        yield emu
        assert emu.errors == []


def creds(gh, perms="read", repo=REPO):
    return GitCredentials("x-access-token", gh.issue_token(7, [repo], {"contents": perms}))


def url(gh, repo=REPO):
    return f"{gh.url}/{repo}.git"


def upload_pack_posts(gh, since):
    return sum(1 for r in gh.requests[since:] if r["method"] == "POST" and r["path"].endswith("/git-upload-pack"))


def plain_git(workdir, *args):
    """git as the agent runs it in the sandbox: nothing from the host but the checkout itself."""
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(["git", *args], cwd=workdir, env=env, capture_output=True, text=True, check=True).stdout


def test_warm_checkout_fetches_into_the_same_mirror_instead_of_cloning_again(gh, tmp_path):
    mirrors = Mirrors(tmp_path / "mirrors")
    start = len(gh.requests)
    cold = mirrors.checkout(url(gh), "gh/1", creds(gh), "main", tmp_path / "w1")
    mirror = tmp_path / "mirrors" / f"{mirror_name('gh/1')}.git"
    inode, packs = mirror.stat().st_ino, sorted((mirror / "objects" / "pack").iterdir())
    cold_posts, middle = upload_pack_posts(gh, start), len(gh.requests)

    warm = mirrors.checkout(url(gh), "gh/1", creds(gh), "main", tmp_path / "w2")
    assert warm.base_sha == cold.base_sha == gh.branch_head(REPO, "main")
    assert (warm.path / "src" / "b.py").read_text() == "print('b')\n" and warm.notes == ()
    assert mirror.stat().st_ino == inode and sorted((mirror / "objects" / "pack").iterdir()) == packs
    assert upload_pack_posts(gh, middle) < cold_posts  # the refs were compared; no objects were asked for

    new = gh.commit_files(REPO, "main", {"a.txt": "two\n"})
    after = mirrors.checkout(url(gh), "gh/1", creds(gh), "main", tmp_path / "w3")
    assert after.base_sha == new and (after.path / "a.txt").read_text() == "two\n"
    assert mirror.stat().st_ino == inode and (tmp_path / "w1" / "a.txt").read_text() == "one\n"


def test_a_warm_checkout_fetches_only_its_branch_not_what_runs_pushed(gh, tmp_path):
    mirrors = Mirrors(tmp_path / "mirrors")
    mirrors.checkout(url(gh), "gh/3", creds(gh), "main", tmp_path / "w1")
    mirror = tmp_path / "mirrors" / f"{mirror_name('gh/3')}.git"
    packs = sorted((mirror / "objects" / "pack").iterdir())
    gh.commit_files(REPO, "codex/pushed-by-a-run", {"c.txt": "a run's change\n"}, start="main")
    mirrors.checkout(url(gh), "gh/3", creds(gh), "main", tmp_path / "w2")
    assert sorted((mirror / "objects" / "pack").iterdir()) == packs  # nothing was downloaded
    branches = subprocess.run(["git", "for-each-ref", "--format=%(refname)"], cwd=mirror, capture_output=True,
                              text=True, check=True).stdout.split()
    assert branches == ["refs/heads/main"]
    pushed = mirrors.checkout(url(gh), "gh/3", creds(gh), "codex/pushed-by-a-run", tmp_path / "w3")
    assert (pushed.path / "c.txt").read_text() == "a run's change\n"


def test_token_is_never_written_to_the_mirror_or_the_checkout(gh, tmp_path):
    read = creds(gh)
    Mirrors(tmp_path / "mirrors").checkout(url(gh), "gh/1", read, "main", tmp_path / "w")
    Mirrors(tmp_path / "mirrors").checkout(url(gh), "gh/1", read, "main", tmp_path / "w2")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 20
    for path in files:
        assert read.password.encode() not in path.read_bytes(), path


def test_checkout_is_self_contained_with_origin_at_the_forge_and_pushes(gh, tmp_path):
    checkout = Mirrors(tmp_path / "mirrors").checkout(url(gh), "gh/1", creds(gh), "main", tmp_path / "w")
    w = checkout.path
    assert plain_git(w, "config", "remote.origin.url").strip() == url(gh)
    assert not (w / ".git" / "objects" / "info" / "alternates").exists() and (w / ".git").is_dir()
    assert all(p.stat().st_nlink == 1 for p in w.rglob("*") if p.is_file())  # no hard links into the mirror
    for path in (w / ".git").rglob("*"):
        if path.is_file():
            assert str(tmp_path / "mirrors").encode() not in path.read_bytes(), path

    (tmp_path / "mirrors").rename(tmp_path / "gone")  # as in the sandbox: the mirror is not there
    (w / "a.txt").write_text("changed\n")
    assert "a.txt" in plain_git(w, "status", "--short") and "+changed" in plain_git(w, "diff")
    assert checkout.base_sha[:7] in plain_git(w, "log", "--oneline")

    read, write = creds(gh), creds(gh, "write")
    assert workspace.create_branch(w, "codex/mirror-1", read) is False
    sha = workspace.commit_all(w, "Change a", BOT)
    workspace.push(w, "codex/mirror-1", write)
    assert gh.branch_head(REPO, "codex/mirror-1") == sha
    assert workspace.diff_stat(w, checkout.base_sha).startswith("a.txt")


def bwrap_problem():
    try:
        check_bwrap()
    except SandboxError as error:
        return str(error)
    return ""


@pytest.mark.skipif(bool(bwrap_problem()), reason="bubblewrap cannot work here")
def test_git_works_inside_the_sandbox_where_the_mirror_is_not_mounted(gh, tmp_path):
    checkout = Mirrors(tmp_path / "mirrors").checkout(url(gh), "gh/1", creds(gh), "main", tmp_path / "w")
    (checkout.path / "a.txt").write_text("changed\n")
    result = make_sandbox("bwrap", checkout.path).run(
        f"test ! -e {tmp_path / 'mirrors'} && git status --short && git log --oneline && git diff --stat")
    assert result.exit_code == 0, result.output
    assert " M a.txt" in result.output and checkout.base_sha[:7] in result.output and "1 file changed" in result.output


def test_a_pushed_branch_is_continued_from_a_mirror_checkout(gh, tmp_path):
    mirrors, read = Mirrors(tmp_path / "mirrors"), creds(gh)
    first = mirrors.checkout(url(gh), "gh/1", read, "main", tmp_path / "w1").path
    workspace.create_branch(first, "codex/mirror-2", read)
    (first / "c.txt").write_text("c\n")
    sha = workspace.commit_all(first, "Add c", BOT)
    workspace.push(first, "codex/mirror-2", creds(gh, "write"))
    second = mirrors.checkout(url(gh), "gh/1", read, "main", tmp_path / "w2").path
    assert workspace.create_branch(second, "codex/mirror-2", read) is True
    assert workspace.head_sha(second) == sha and (second / "c.txt").read_text() == "c\n"


def test_concurrent_checkouts_of_one_repository_both_succeed(gh, tmp_path):
    mirrors, barrier, results, errors = Mirrors(tmp_path / "mirrors"), threading.Barrier(3), {}, []

    def work(n):
        barrier.wait()
        try:
            results[n] = mirrors.checkout(url(gh), "gh/1", creds(gh), "main", tmp_path / f"w{n}")
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 3
    assert len({r.base_sha for r in results.values()}) == 1
    assert all((r.path / "a.txt").exists() for r in results.values())
    assert [p.name for p in (tmp_path / "mirrors").glob("*.git")] == [f"{mirror_name('gh/1')}.git"]


def test_lfs_pointers_are_left_as_they_are_and_noted(gh, tmp_path):
    read = creds(gh, repo=LFS_REPO)
    checkout = Mirrors(tmp_path / "m").checkout(url(gh, LFS_REPO), "gh/2", read, "main", tmp_path / "w")
    assert checkout.notes == (LFS_NOTE,)
    assert (checkout.path / "big.bin").read_text().startswith("version https://git-lfs.github.com/spec/v1")


def test_failures_leave_no_mirror_and_no_workspace(gh, tmp_path):
    mirrors = Mirrors(tmp_path / "mirrors")
    with pytest.raises(workspace.WorkspaceError, match="could not be fetched"):
        mirrors.checkout(f"{gh.url}/octo/missing.git", "gh/9", creds(gh), "main", tmp_path / "w")
    assert not (tmp_path / "w").exists() and not list((tmp_path / "mirrors").glob("*.git*"))
    with pytest.raises(workspace.WorkspaceError, match="branch nope does not exist"):
        mirrors.checkout(url(gh), "gh/1", creds(gh), "nope", tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_sweep_removes_leftovers_and_failed_workspaces_once_kept_long_enough(tmp_path):
    root = tmp_path / "workspaces"
    for name in ("crashed", "listed", "running", "failed", "young"):
        (root / name / "sub").mkdir(parents=True)
    (root / "crashed" / "sub").chmod(0o500)  # the sandbox may leave read-only folders
    claim = cleanup.WorkspaceClaim(root / "running")
    now = time.time()
    for name in ("crashed", "listed", "running", "failed"):
        os.utime(root / name, (now - 3600, now - 3600))
    assert cleanup.finish_workspace(root / "failed", failed=True, keep_failed_seconds=600) is True
    assert cleanup.finish_workspace(root / "ok", failed=False, keep_failed_seconds=600) is False
    assert cleanup.sweep_workspaces(root, 600, ["listed"], now=now) == [root / "crashed"]
    assert cleanup.sweep_workspaces(root, 600, ["listed"], now=now + 601) == [root / "failed", root / "young"]
    assert sorted(p.name for p in root.iterdir()) == [".claims", "listed", "running"]
    claim.release()
    assert cleanup.sweep_workspaces(root, 600, now=now + 601) == [root / "listed", root / "running"]
    assert list((root / ".claims").iterdir()) == []


def test_a_crashed_runs_claim_is_freed_and_a_live_one_refuses_a_second_copy(tmp_path):
    workdir = tmp_path / "workspaces" / "run1"
    workdir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from jobs.git.cleanup import WorkspaceClaim; WorkspaceClaim(Path(sys.argv[1])); "
                               "print('held', flush=True); time.sleep(60)", str(workdir)],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3])
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(cleanup.WorkspaceBusy, match="already running"):
        cleanup.WorkspaceClaim(workdir, wait=0.2)
    assert cleanup.sweep_workspaces(workdir.parent, 0, grace_seconds=0) == []
    holder.kill()
    holder.wait()
    assert cleanup.sweep_workspaces(workdir.parent, 0, grace_seconds=0) == [workdir]


def test_eviction_drops_least_recently_used_mirrors_but_never_a_locked_one(gh, tmp_path):
    root = tmp_path / "mirrors"
    mirrors = Mirrors(root)
    for n, key in enumerate(("gh/old", "gh/locked", "gh/new")):
        mirrors.checkout(url(gh), key, creds(gh), "main", tmp_path / f"w{n}")
        os.utime(root / f"{mirror_name(key)}.git" / "codexbot-last-used", (1000 + n, 1000 + n))
    one = cleanup.tree_bytes(root / f"{mirror_name('gh/new')}.git")
    assert cleanup.evict_mirrors(root, max_bytes=int(2.5 * one)) == [mirror_name("gh/old")]  # the oldest goes first
    assert cleanup.evict_mirrors(root, max_bytes=int(2.5 * one)) == []  # and that was enough
    with repo_lock(root, mirror_name("gh/locked")):  # in use by a checkout
        assert cleanup.evict_mirrors(root, max_bytes=0) == [mirror_name("gh/new")]
    assert cleanup.evict_mirrors(root, max_bytes=0) == [mirror_name("gh/locked")]
    assert list(root.glob("*.git*")) == []
    assert mirrors.checkout(url(gh), "gh/old", creds(gh), "main", tmp_path / "again").base_sha
