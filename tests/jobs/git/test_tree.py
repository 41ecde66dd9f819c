"""The tree goes back as it was after the tests ran on the base: their reports and caches are not the
agent's change, and a link planted in the tree is never followed out of it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jobs.git.tree import put_back, tree_state


def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@x"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "calc.py").write_text("X = 1\n")
    (path / "notes.txt").write_text("kept\n")
    subprocess.run(["git", "add", "calc.py", "notes.txt"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=path, check=True)
    return path


def test_what_the_tests_added_or_changed_goes_and_what_setup_left_stays(tmp_path):
    path = repo(tmp_path)
    (path / "setup-output.txt").write_text("from setup\n")  # there before the tests: stays
    (path / "notes.txt").write_text("setup edited this\n")
    before = tree_state(path)
    (path / "junit.xml").write_text("<testsuite/>")
    (path / "cache").mkdir()
    (path / "cache" / "v").write_text("1")
    (path / "calc.py").write_text("X = 2\n")
    os.symlink("/etc/passwd", path / "planted-link")
    restored = put_back(path, before)
    assert sorted(restored) == ["cache/v", "calc.py", "junit.xml", "planted-link"]
    assert (path / "calc.py").read_text() == "X = 1\n" and not (path / "junit.xml").exists()
    assert (path / "setup-output.txt").exists() and (path / "notes.txt").read_text() == "setup edited this\n"
    assert Path("/etc/passwd").exists() and not os.path.lexists(path / "planted-link")


def test_a_file_behind_a_linked_directory_is_never_touched(tmp_path):
    path = repo(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("host file\n")
    before = tree_state(path)
    os.symlink(outside, path / "dir")
    put_back(path, before)
    assert (outside / "precious").read_text() == "host file\n"


def test_files_setup_changed_or_made_get_back_what_setup_left_whatever_the_tests_did(tmp_path):
    path = repo(tmp_path)
    (path / "notes.txt").write_text("setup edited this\n")  # as npm install rewrites package-lock.json
    (path / "built.txt").write_text("setup made this\n")
    (path / "calc.py").unlink()  # setup deleted a tracked file
    os.chmod(path / "built.txt", 0o755)
    before = tree_state(path)
    (path / "notes.txt").write_text("the tests edited it again\n")
    (path / "built.txt").unlink()
    (path / "calc.py").write_text("X = 3\n")
    restored = put_back(path, before)
    assert sorted(restored) == ["built.txt", "calc.py", "notes.txt"]
    assert (path / "notes.txt").read_text() == "setup edited this\n"
    assert (path / "built.txt").read_text() == "setup made this\n" and os.stat(path / "built.txt").st_mode & 0o777 == 0o755
    assert not (path / "calc.py").exists()
    before = tree_state(path)
    subprocess.run(["git", "checkout", "--", "notes.txt"], cwd=path, check=True)  # tests that undo setup's edit
    assert put_back(path, before) == ["notes.txt"] and (path / "notes.txt").read_text() == "setup edited this\n"
