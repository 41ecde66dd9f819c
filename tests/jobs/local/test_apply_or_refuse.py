"""Applying a delegated run's diff: plainly, by a three-way merge, or not at all; and the diff `delegate` sends."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cli.remote import repository_of
from jobs.git.patches import preimages_of
from jobs.local.checkout import CheckoutError, apply_or_refuse, working_tree_diff, write_preimages

LINES = "".join(f"line {n}\n" for n in range(1, 21))


def git(cwd: Path, *args: str, input: str | None = None) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "a",
           "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True,
                          input=input).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main", "repo")
    repo = tmp_path / "repo"
    (repo / "f.txt").write_text(LINES)
    git(repo, "add", "f.txt")
    git(repo, "commit", "-qm", "base")
    return repo


def change(repo: Path, old: str, new: str) -> tuple[str, Path]:
    """A diff of one edit made in a separate clone, with its preimages written out."""
    other = repo.parent / "other"
    git(repo.parent, "clone", "-q", str(repo), str(other))
    (other / "f.txt").write_text((other / "f.txt").read_text().replace(old, new))
    git(other, "commit", "-qam", "agent")
    preimages = repo.parent / "pre"
    write_preimages(preimages_of(other, "HEAD~1"), preimages)
    return git(other, "diff", "--binary", "HEAD~1..HEAD"), preimages


def test_a_diff_that_fits_is_applied_plainly(repo):
    diff, pre = change(repo, "line 10\n", "line ten\n")
    assert apply_or_refuse(repo, diff, pre) == "applied the change to the working tree"
    assert "line ten" in (repo / "f.txt").read_text()


def test_edits_next_to_the_change_are_merged_three_way(repo):
    diff, pre = change(repo, "line 10\n", "line ten\n")
    (repo / "f.txt").write_text(LINES.replace("line 12\n", "line twelve\n"))  # context of the hunk moved
    git(repo, "add", "f.txt")  # the user's index holds the edit too: it must stay as it is
    index_before = git(repo, "ls-files", "-s")
    assert apply_or_refuse(repo, diff, pre) == "applied the change with a three-way merge"
    text = (repo / "f.txt").read_text()
    assert "line ten" in text and "line twelve" in text
    assert git(repo, "ls-files", "-s") == index_before


def test_a_conflict_leaves_the_working_tree_and_index_untouched(repo):
    diff, pre = change(repo, "line 10\n", "line ten\n")
    mine = LINES.replace("line 10\n", "line TEN\n")
    (repo / "f.txt").write_text(mine)
    with pytest.raises(CheckoutError, match=r"conflicts with your edits \(f.txt\); nothing was changed"):
        apply_or_refuse(repo, diff, pre)
    assert (repo / "f.txt").read_text() == mine and git(repo, "status", "--porcelain") == " M f.txt\n"


def test_the_sent_diff_holds_staged_unstaged_and_untracked_work_and_leaves_the_index(repo):
    (repo / "f.txt").write_text(LINES + "more\n")
    (repo / "new.txt").write_text("new\n")
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "debug.log").write_text("ignored\n")
    diff = working_tree_diff(repo)
    assert "+more" in diff and "b/new.txt" in diff and "b/.gitignore" in diff and "debug.log" not in diff
    assert git(repo, "status", "--porcelain") == " M f.txt\n?? .gitignore\n?? new.txt\n"


@pytest.mark.parametrize("url, repo", [
    ("https://github.com/octo/calc.git", "octo/calc"), ("git@github.com:octo/calc.git", "octo/calc"),
    ("ssh://git@gitlab.example.com:2222/group/sub/app.git", "group/sub/app"),
    ("http://127.0.0.1:5000/octo/calc", "octo/calc"), ("https://user@host/octo/calc/", "octo/calc"),
])
def test_the_repository_is_read_from_the_remote_url(url, repo):
    assert repository_of(url) == repo
