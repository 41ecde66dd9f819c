"""The warm-environment store on its own: what is kept, what is refused, what comes back, and eviction."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

from jobs.run.warm import Environments


def checkout(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    (path / ".gitignore").write_text(".venv/\n")
    (path / "app.py").write_text("X = 1\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "base"], cwd=path, check=True)
    return path


def with_venv(path: Path) -> Path:
    (path / ".venv" / "bin").mkdir(parents=True)
    (path / ".venv" / "bin" / "tool").write_text("#!/bin/sh\n")
    os.symlink("/usr/bin/python3", path / ".venv" / "bin" / "python3")
    return path


def ready_spare(folder: Path, timeout: float = 60) -> Path:
    """The spare the store makes in the background once it is complete (renamed from its `.partial`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = os.listdir(folder / "spares")
        if names and not names[0].endswith(".partial"):
            return folder / "spares" / names[0]
        time.sleep(0.02)
    raise AssertionError(f"no spare in {folder} within {timeout} s")


def test_what_setup_made_comes_back_links_as_links(tmp_path):
    store, lines = Environments(tmp_path / "envs", 10 << 20), []
    store.save("k1", with_venv(checkout(tmp_path, "first")), 12.5, lines.append)
    assert lines[-1].startswith("environment kept (key k1…, 2 files")
    second = checkout(tmp_path, "second")
    assert store.restore("k1", second) == 12.5
    assert (second / ".venv" / "bin" / "tool").read_text() == "#!/bin/sh\n"
    assert os.readlink(second / ".venv" / "bin" / "python3") == "/usr/bin/python3"
    assert store.restore("other", second) is None


def test_a_restore_takes_a_ready_spare_by_renames_and_each_run_gets_its_own_copy(tmp_path):
    store = Environments(tmp_path / "envs", 10 << 20)
    store.save("k", with_venv(checkout(tmp_path, "first")), 1.0, lambda line: None)
    spare = ready_spare(tmp_path / "envs" / "k")
    tool_inode = (spare / "workspace" / ".venv" / "bin" / "tool").stat().st_ino
    one, two = checkout(tmp_path, "one"), checkout(tmp_path, "two")
    assert store.restore("k", one) == 1.0
    assert (one / ".venv" / "bin" / "tool").stat().st_ino == tool_inode  # moved, not copied file by file
    (one / ".venv" / "bin" / "tool").write_text("changed by the agent\n")
    assert store.restore("k", two) == 1.0  # from the next spare, or a copy of the tree made now
    assert (two / ".venv" / "bin" / "tool").read_text() == "#!/bin/sh\n"
    kept = tmp_path / "envs" / "k" / "tree" / "workspace" / ".venv" / "bin" / "tool"
    assert kept.read_text() == "#!/bin/sh\n" and kept.stat().st_ino != tool_inode


def test_setup_that_changed_tracked_files_or_made_too_much_is_not_kept(tmp_path):
    lines = []
    path = checkout(tmp_path, "repo")
    (path / "app.py").write_text("X = 2\n")
    Environments(tmp_path / "envs", 10 << 20).save("k", path, 1.0, lines.append)
    assert lines == ["setup changed files the repository tracks: its environment is not kept"]
    subprocess.run(["git", "checkout", "app.py"], cwd=path, check=True)
    (path / ".venv").mkdir()
    (path / ".venv" / "big.bin").write_bytes(b"x" * 6000)
    Environments(tmp_path / "envs", 10_000).save("k", path, 1.0, lines.append)
    assert "not kept" in lines[-1] and not (tmp_path / "envs" / "k").exists()
    assert list((tmp_path / "envs").iterdir()) == []  # nothing half made is left either


def test_a_hard_link_a_fifo_or_a_set_id_bit_is_never_kept(tmp_path):
    outside = tmp_path / "host-file"
    outside.write_text("the host's\n")
    path = checkout(tmp_path, "repo")
    (path / ".venv").mkdir()
    os.link(outside, path / ".venv" / "linked")
    os.mkfifo(path / ".venv" / "pipe")
    (path / ".venv" / "suid").write_text("#!/bin/sh\n")
    os.chmod(path / ".venv" / "suid", 0o4755)
    store = Environments(tmp_path / "envs", 10 << 20)
    store.save("k", path, 3.0, lambda line: None)
    fresh = checkout(tmp_path, "fresh")
    assert store.restore("k", fresh) == 3.0
    restored = fresh / ".venv" / "linked"
    assert restored.read_text() == "the host's\n" and restored.stat().st_ino != outside.stat().st_ino
    restored.write_text("written in the sandbox\n")
    assert outside.read_text() == "the host's\n"
    assert not os.path.lexists(fresh / ".venv" / "pipe")
    assert stat.S_IMODE((fresh / ".venv" / "suid").stat().st_mode) == 0o755


def test_the_least_recently_used_go_first_past_the_budget(tmp_path):
    store = Environments(tmp_path / "envs", 50_000)  # each counts 2 × 10.5 KB: its tree and a spare
    for index, key in enumerate(("old", "used", "new")):
        path = checkout(tmp_path, key)
        (path / ".venv").mkdir()
        (path / ".venv" / "blob").write_bytes(os.urandom(10_000))
        store.save(key, path, 1.0, lambda line: None)
        os.utime(tmp_path / "envs" / key, (1000 + index, 1000 + index))
        if key == "used":
            assert store.restore("old", checkout(tmp_path, "reader")) == 1.0  # "old" was used last
    (tmp_path / "envs" / "k.tar").write_bytes(b"\0" * 1024)  # the archive format of the release before
    (tmp_path / "envs" / "k.json").write_text('{"setup_seconds": 1}')
    store.evict()
    assert sorted(p.name for p in (tmp_path / "envs").iterdir() if (p / "meta.json").exists()) == ["new", "old"]
    assert not (tmp_path / "envs" / "k.tar").exists() and not (tmp_path / "envs" / "k.json").exists()


def test_only_ignored_files_are_kept_and_none_comes_back_over_a_tracked_path(tmp_path):
    store = Environments(tmp_path / "envs", 10 << 20)
    path = checkout(tmp_path, "repo")
    (path / ".venv").mkdir()
    (path / ".venv" / "lib.py").write_text("ok\n")
    (path / "planted.py").write_text("not ignored: could become the repository's own\n")
    store.save("k", path, 1.0, lambda line: None)
    tree = tmp_path / "envs" / "k" / "tree" / "workspace"
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == [".venv", ".venv/lib.py"]
    (tree / "app.py").write_text("BACKDOOR")  # as if another commit of the same key had not tracked them
    (tree / "docs").mkdir()
    (tree / "docs" / "evil.txt").write_text("BACKDOOR")
    outside = tmp_path / "outside"
    outside.mkdir()
    fresh = checkout(tmp_path, "fresh")
    os.symlink(outside, fresh / "docs")  # a tracked link to a folder: nothing goes through it
    subprocess.run(["git", "add", "docs"], cwd=fresh, check=True)
    subprocess.run(["rm", "-rf", str(ready_spare(tmp_path / "envs" / "k"))], check=True)  # made before the change
    assert store.restore("k", fresh) == 1.0
    assert (fresh / "app.py").read_text() == "X = 1\n" and (fresh / ".venv" / "lib.py").read_text() == "ok\n"
    assert list(outside.iterdir()) == []


def test_what_setup_left_in_the_home_comes_back_with_the_environment(tmp_path):
    store = Environments(tmp_path / "envs", 10 << 20)
    home = tmp_path / "home"
    (home / ".cache" / "pip").mkdir(parents=True)
    (home / ".cache" / "pip" / "wheel.whl").write_bytes(b"PK")
    os.symlink("/etc/passwd", home / ".profile-link")
    store.save("k", with_venv(checkout(tmp_path, "first")), 2.0, lambda line: None, home)
    next_home = tmp_path / "next-home"
    next_home.mkdir()
    assert store.restore("k", checkout(tmp_path, "second"), next_home) == 2.0
    assert (next_home / ".cache" / "pip" / "wheel.whl").read_bytes() == b"PK"
    assert os.readlink(next_home / ".profile-link") == "/etc/passwd"


def test_a_restore_that_fails_half_way_leaves_nothing_and_a_half_made_copy_is_never_used(tmp_path):
    store = Environments(tmp_path / "envs", 10 << 20)
    home = tmp_path / "home"
    (home / ".npm").mkdir(parents=True)
    (home / ".npm" / "index").write_text("x")
    store.save("k", with_venv(checkout(tmp_path, "first")), 2.0, lambda line: None, home)
    repo, folder = checkout(tmp_path, "repo"), tmp_path / "envs" / "k"
    ready_spare(folder)
    assert store.restore("k", repo, tmp_path / "home-that-is-gone") is None  # the workspace part was placed first
    assert not os.path.lexists(repo / ".venv")
    assert subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=repo, capture_output=True,
                          text=True).stdout == ""
    assert os.listdir(folder / "spares") == []  # the spare went with the failed restore
    (folder / "spares" / "1-2.partial").mkdir()  # a copy a killed process never finished
    (folder / "meta.json").write_text("{not json")  # and a record cut short
    assert store.restore("k", repo) is None and not os.path.lexists(repo / ".venv")
    (folder / "meta.json").write_text(json.dumps({"setup_seconds": 2.0}))
    assert store.restore("k", repo) == 2.0  # copied from the tree, not from the half-made spare
    assert (folder / "spares" / "1-2.partial").is_dir() and list((folder / "spares" / "1-2.partial").iterdir()) == []
    assert (repo / ".venv" / "bin" / "tool").read_text() == "#!/bin/sh\n"
