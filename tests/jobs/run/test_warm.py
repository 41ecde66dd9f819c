"""The warm-environment store on its own: what is kept, what is refused, what comes back, and eviction."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
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


def test_what_setup_made_comes_back_links_as_links(tmp_path):
    store, lines = Environments(tmp_path / "envs", 10 << 20), []
    first = checkout(tmp_path, "first")
    (first / ".venv" / "bin").mkdir(parents=True)
    (first / ".venv" / "bin" / "tool").write_text("#!/bin/sh\n")
    os.symlink("/usr/bin/python3", first / ".venv" / "bin" / "python3")
    store.save("k1", first, 12.5, lines.append)
    assert lines[-1].startswith("environment kept (key k1…, 2 files")
    second = checkout(tmp_path, "second")
    assert store.restore("k1", second) == 12.5
    assert (second / ".venv" / "bin" / "tool").read_text() == "#!/bin/sh\n"
    assert os.readlink(second / ".venv" / "bin" / "python3") == "/usr/bin/python3"
    assert store.restore("other", second) is None


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
    assert "not kept" in lines[-1] and not (tmp_path / "envs" / "k.tar").exists()


def test_a_hard_link_or_a_device_in_an_archive_is_never_made(tmp_path):
    root = tmp_path / "envs"
    root.mkdir()
    with tarfile.open(root / "k.tar", "w") as tar:
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.LNKTYPE, "/etc/passwd"
        tar.addfile(link)
        device = tarfile.TarInfo("mem")
        device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 1
        tar.addfile(device)
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
    (root / "k.json").write_text('{"setup_seconds": 3}')
    path = checkout(tmp_path, "repo")
    assert Environments(root, 10 << 20).restore("k", path) == 3.0
    assert (path / "ok.txt").read_text() == "ok"
    assert not os.path.lexists(path / "passwd") and not os.path.lexists(path / "mem")


def test_the_least_recently_used_go_first_past_the_budget(tmp_path):
    store = Environments(tmp_path / "envs", 50_000)  # each archive is 20 KB (tar pads to 10 KB records)
    for index, key in enumerate(("old", "used", "new")):
        path = checkout(tmp_path, key)
        (path / ".venv").mkdir()
        (path / ".venv" / "blob").write_bytes(os.urandom(10_000))
        store.save(key, path, 1.0, lambda line: None)
        os.utime(tmp_path / "envs" / f"{key}.tar", (1000 + index, 1000 + index))
        if key == "used":
            store.restore("old", checkout(tmp_path, "reader"))  # "old" was used last
    store.evict()
    assert sorted(p.stem for p in (tmp_path / "envs").glob("*.tar")) == ["new", "old"]


def test_only_ignored_files_are_kept_and_none_comes_back_over_a_tracked_path(tmp_path):
    store, lines = Environments(tmp_path / "envs", 10 << 20), []
    path = checkout(tmp_path, "repo")
    (path / ".venv").mkdir()
    (path / ".venv" / "lib.py").write_text("ok\n")
    (path / "planted.py").write_text("not ignored: could become the repository's own\n")
    store.save("k", path, 1.0, lines.append)
    with tarfile.open(tmp_path / "envs" / "k.tar") as tar:
        assert tar.getnames() == [".venv/lib.py"]
    with tarfile.open(tmp_path / "envs" / "k.tar", "a") as tar:  # as if an older archive held a tracked path
        for name in ("app.py", "app.py/x"):
            info = tarfile.TarInfo(name)
            info.size = 8
            tar.addfile(info, io.BytesIO(b"BACKDOOR"))
    fresh = checkout(tmp_path, "fresh")
    assert store.restore("k", fresh) == 1.0
    assert (fresh / "app.py").read_text() == "X = 1\n" and (fresh / ".venv" / "lib.py").read_text() == "ok\n"
