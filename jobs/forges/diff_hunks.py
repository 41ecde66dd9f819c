"""The lines of a diff's hunks on the new side: what a line comment can sit on, the same way on both forges."""

from __future__ import annotations

import re

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def hunk_lines(diff: str) -> dict[int, int | None]:
    """One file's hunks (what follows its header): each new-side line, added (None) or unchanged (with the old
    side's number). A hunk's lines are counted by its header, so a changed line that reads like a header
    ("+++ x") is still a line, and "\\ No newline at end of file" counts for neither side."""
    lines: dict[int, int | None] = {}
    old = new = old_left = new_left = 0
    for text in diff.split("\n"):
        if old_left > 0 or new_left > 0:
            if text.startswith("+"):
                lines[new], new, new_left = None, new + 1, new_left - 1
            elif text.startswith("-"):
                old, old_left = old + 1, old_left - 1
            elif text.startswith(" ") or text == "":
                lines[new] = old
                old, new, old_left, new_left = old + 1, new + 1, old_left - 1, new_left - 1
        elif (hunk := _HUNK.match(text)):
            old, new = int(hunk.group(1)), int(hunk.group(3))
            old_left, new_left = int(hunk.group(2) or 1), int(hunk.group(4) or 1)
    return lines
