"""Which lines of a pull request's diff a review comment can be anchored to: the new side's lines inside its
hunks (added or context), with the old side's number of a context line (GitLab's positions need both)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from jobs.git import workspace

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
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
    """A unified diff's anchorable lines per new path; a hunk's lines are counted by its header, so a changed
    line that reads like a header ("+++ x") is still a line."""
    files: dict[str, FileLines] = {}
    current: FileLines | None = None
    old_path, old_no, new_no, old_left, new_left = "", 0, 0, 0, 0
    for line in diff.split("\n"):
        if old_left > 0 or new_left > 0:
            if line.startswith("+"):
                current.lines[new_no] = None
                new_no, new_left = new_no + 1, new_left - 1
            elif line.startswith("-"):
                old_no, old_left = old_no + 1, old_left - 1
            elif line.startswith(" ") or line == "":
                current.lines[new_no] = old_no
                new_no, old_no, new_left, old_left = new_no + 1, old_no + 1, new_left - 1, old_left - 1
            continue  # "\\ No newline at end of file" counts for neither side
        if line.startswith("diff --git "):
            current, old_path = None, ""
        elif (old := _OLD_PATH.match(line)):
            old_path = "" if old.group(1) == "/dev/null" else old.group(1)
        elif (new := _NEW_PATH.match(line)):
            current = None if new.group(1) == "/dev/null" else files.setdefault(new.group(1),
                                                                               FileLines(old_path or new.group(1)))
        elif (hunk := _HUNK.match(line)) and current is not None:
            old_no, new_no = int(hunk.group(1)), int(hunk.group(3))
            old_left, new_left = int(hunk.group(2) or 1), int(hunk.group(4) or 1)
    return DiffAnchors(files)


def review_diff(workdir: Path, base: str, head: str, max_bytes: int) -> tuple[str, bool]:
    """What head changes since it left base (three dots, as the forges show it), cut to max_bytes; and whether
    it was cut."""
    text = workspace.git(workdir, "diff", "--no-color", "--no-ext-diff", "--no-renames", "--no-textconv",
                         f"{base}...{head}").stdout
    if len(text.encode()) <= max_bytes:
        return text, False
    return text.encode()[:max_bytes].decode("utf-8", "ignore"), True
