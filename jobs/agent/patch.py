"""Unified diffs applied in Python on the host: no repository code runs, and a failure shows the nearest context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
DEV_NULL = "/dev/null"
NEAREST_SHOWN = 3  # lines of file shown around the nearest match, either side
MAX_COMPARISONS = 4_000_000  # line comparisons spent looking for the nearest match


class PatchError(Exception):
    """The patch cannot be applied; the message tells the model why and what the file really holds."""


@dataclass
class Hunk:
    header: str
    old_start: int
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    no_newline_at_end: bool = False


@dataclass
class FilePatch:
    old_path: str | None  # None for a new file
    new_path: str | None  # None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def parse_patch(text: str) -> list[FilePatch]:
    """The file patches of a unified diff; lenient about hunk counts, strict about structure."""
    lines = text.splitlines()
    patches: list[FilePatch] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ "):
            patches.append(FilePatch(_path(line[4:]), _path(lines[index + 1][4:])))
            index += 2
        elif line.startswith("@@"):
            if not patches:
                raise PatchError("the patch has a hunk before any '--- a/path' and '+++ b/path' lines: "
                                 "start each file with them")
            index = _read_hunk(lines, index, patches[-1])
        else:
            index += 1  # "diff --git", "index …", prose around the diff
    if not patches:
        raise PatchError("no file changes found: send a unified diff with '--- a/path', '+++ b/path' and "
                         "'@@ -start,count +start,count @@' hunks")
    for patch in patches:
        if not patch.hunks and patch.new_path is not None:
            raise PatchError(f"the patch for {patch.path} has no hunks")
    return patches


def _path(raw: str) -> str | None:
    name = raw.split("\t")[0].strip()
    if name == DEV_NULL:
        return None
    return name[2:] if name.startswith(("a/", "b/")) else name


def _read_hunk(lines: list[str], index: int, patch: FilePatch) -> int:
    header = lines[index]
    match = HUNK_HEADER.match(header)
    # A bare "@@" (no numbers) is accepted: the hunk is then found by its context alone.
    hunk = Hunk(header, int(match.group(1)) if match else 0)
    index += 1
    while index < len(lines):
        line = lines[index]
        if line.startswith("@@") or line.startswith("diff --git ") or _starts_file(lines, index):
            break
        if line.startswith("\\"):
            hunk.no_newline_at_end = True
        elif line.startswith("-"):
            hunk.old.append(line[1:])
        elif line.startswith("+"):
            hunk.new.append(line[1:])
        else:  # context; models often drop the space of an empty context line
            hunk.old.append(line[1:] if line.startswith(" ") else line)
            hunk.new.append(hunk.old[-1])
        index += 1
    patch.hunks.append(hunk)
    return index


def _starts_file(lines: list[str], index: int) -> bool:
    return lines[index].startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ ")


def apply_file_patch(original: str | None, patch: FilePatch) -> str | None:
    """The new text of one file (None when the patch deletes it); raises PatchError when a hunk does not fit."""
    if patch.new_path is None:
        return None
    text = original or ""
    lines = text.split("\n")
    ends_with_newline = text.endswith("\n") or not text
    if ends_with_newline:
        lines.pop()
    crlf = bool(lines) and all(line.endswith("\r") for line in lines)
    if crlf:
        lines = [line[:-1] for line in lines]
    offset = 0
    for number, hunk in enumerate(patch.hunks, 1):
        at = locate(lines, hunk, max(hunk.old_start - 1, 0) + offset, patch.path, number)
        lines[at:at + len(hunk.old)] = hunk.new
        offset = at - max(hunk.old_start - 1, 0) + len(hunk.new) - len(hunk.old)
    if patch.hunks and patch.hunks[-1].no_newline_at_end:
        ends_with_newline = False
    newline = "\r\n" if crlf else "\n"
    return newline.join(lines) + (newline if ends_with_newline and lines else "")


def locate(lines: list[str], hunk: Hunk, expected: int, path: str, number: int) -> int:
    """Where the hunk's old lines are, nearest the expected line first; exact, then ignoring whitespace."""
    if not hunk.old:
        return min(expected, len(lines))
    for same in (_exact, _loose) if len(hunk.old) <= len(lines) else ():
        for start in _outward(expected, len(lines) - len(hunk.old)):
            if all(same(lines[start + i], old) for i, old in enumerate(hunk.old)):
                return start
    raise PatchError(_mismatch(lines, hunk, expected, path, number))


def _exact(line: str, old: str) -> bool:
    return line == old


def _loose(line: str, old: str) -> bool:
    return line.split() == old.split()


def _outward(expected: int, last: int):
    """Start positions 0..last ordered by distance from expected."""
    expected = min(max(expected, 0), max(last, 0))
    for distance in range(max(expected, last - expected) + 1):
        if expected - distance >= 0:
            yield expected - distance
        if distance and expected + distance <= last:
            yield expected + distance


def _mismatch(lines: list[str], hunk: Hunk, expected: int, path: str, number: int) -> str:
    """Why a hunk did not fit, with the file's lines where it fits best, numbered."""
    best, score = nearest(lines, hunk.old)
    wanted = "\n".join(f"  {line}" for line in hunk.old[:8])
    message = (f"hunk {number} ({hunk.header.strip()}) does not apply to {path}: its context and removed "
               f"lines are not in the file. The hunk expects:\n{wanted}\n")
    if score == 0:
        return message + f"No line of it appears in {path} ({len(lines)} lines); read the file and try again."
    low, high = max(best - NEAREST_SHOWN, 0), min(best + len(hunk.old) + NEAREST_SHOWN, len(lines))
    shown = "\n".join(f"{n + 1:6}\t{lines[n]}" for n in range(low, high))
    return (message + f"The nearest match is at line {best + 1} ({score} of {len(hunk.old)} lines agree); "
            f"there {path} holds:\n{shown}\nSend the patch again with context lines copied from the file.")


def nearest(lines: list[str], old: list[str]) -> tuple[int, int]:
    """The start where most of old's lines agree with the file (ignoring whitespace), and how many agree."""
    if len(lines) * len(old) > MAX_COMPARISONS:
        old = old[:max(1, MAX_COMPARISONS // max(len(lines), 1))]
    wanted = [line.split() for line in old]
    found = [line.split() for line in lines]
    best, score = 0, 0
    for start in range(-len(old) + 1, len(lines)):
        agree = sum(1 for i, words in enumerate(wanted)
                    if 0 <= start + i < len(found) and words and found[start + i] == words)
        if agree > score:
            best, score = max(start, 0), agree
    return best, score
