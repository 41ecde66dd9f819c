"""Which lines of a pull request's diff a review comment can be anchored to: the new side's lines inside its
hunks (added or context), with the old side's number of a context line (GitLab's positions need both)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from jobs.forges.diff_hunks import hunk_lines
from jobs.git import workspace

_FILE = re.compile(r"^diff --git .*$", re.MULTILINE)  # inside a hunk every line starts with " ", "+" or "-"
_NEW_PATH = re.compile(r"^\+\+\+ (?:b/)?(.*)$")
_OLD_PATH = re.compile(r"^--- (?:a/)?(.*)$")


@dataclass
class FileLines:
    old_path: str
    lines: dict[int, int | None] = field(default_factory=dict)  # new line → old line (None: added)


@dataclass(frozen=True)
class DiffAnchors:
    files: dict[str, FileLines]

    def anchor(self, path: str, line: int) -> FileLines | None:
        """The file's lines when (path, line) is on the diff, else None (the comment goes to the summary)."""
        found = self.files.get(path)
        return found if found is not None and line in found.lines else None


def parse_anchors(diff: str) -> DiffAnchors:
    """A unified diff (git's, with a header per file) as the anchorable lines of each new path."""
    files: dict[str, FileLines] = {}
    for block in _FILE.split(diff)[1:]:
        header, hunks, body = block.partition("\n@@")
        old_path = new_path = ""
        for line in header.split("\n"):
            if (old := _OLD_PATH.match(line)):
                old_path = "" if old.group(1) == "/dev/null" else old.group(1)
            elif (new := _NEW_PATH.match(line)):
                new_path = "" if new.group(1) == "/dev/null" else new.group(1)
        if new_path:
            files[new_path] = FileLines(old_path or new_path, hunk_lines("@@" + body) if hunks else {})
    return DiffAnchors(files)


def review_diff(workdir: Path, base: str, head: str) -> str:
    """What head changes since it left base (three dots, as the forges show it)."""
    return workspace.git(workdir, "diff", "--no-color", "--no-ext-diff", "--no-renames", "--no-textconv",
                         f"{base}...{head}").stdout
