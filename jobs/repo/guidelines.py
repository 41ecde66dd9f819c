"""The "Review guidelines" section of a repository's AGENTS.md, which a review's prompt includes."""

from __future__ import annotations

import re

MAX_GUIDELINES = 8_000  # characters: a long AGENTS.md must not crowd the diff out of the prompt
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def review_guidelines(agents_md: str) -> str:
    """The text under the heading "Review guidelines" (any level, any case) up to the next heading of the
    same or a higher level, outside code blocks; "" when there is no such section."""
    lines = agents_md.replace("\r\n", "\n").split("\n")
    level, kept, fence = 0, [], ""
    for line in lines:
        fenced = _FENCE.match(line)
        if fenced and (not fence or fenced.group(1)[0] == fence[0]):
            fence = "" if fence else fenced.group(1)
        heading = None if fence or fenced else _HEADING.match(line)
        if heading and level and len(heading.group(1)) <= level:
            break
        if level:
            kept.append(line)
        elif heading and heading.group(2).strip().casefold() == "review guidelines":
            level = len(heading.group(1))
    text = "\n".join(kept).strip()
    return text if len(text) <= MAX_GUIDELINES else text[:MAX_GUIDELINES] + "\n… (cut)"
