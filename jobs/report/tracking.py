"""The tracking comment: one per run, found by a hidden marker and edited in place as the run moves."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

PHASES = ("queued", "checking out", "setting up", "agent working", "tests", "publishing")
_ICONS = {"succeeded": "🚀", "failed": "😕", "cancelled": "⏹️"}


def code_block(text: str) -> str:
    """Text as a fenced code block that nothing in it can close (a fence longer than any backtick run)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def marker(run_id: str) -> str:
    return f"<!-- codexbot:run={run_id} -->"


@dataclass(frozen=True)
class Progress:
    run_id: str
    link: str
    phase: str = "queued"
    outcome: str = ""  # "", "succeeded", "failed", "cancelled"
    message: str = ""  # the result, or the one sentence that says what went wrong
    detail: str = ""   # e.g. "step 4 of 30"; with an outcome, output that explains it (shown as code)
    attention: bool = False  # succeeded, but its tests fail: a draft for someone to look at


def render_tracking(p: Progress) -> str:
    lines = [marker(p.run_id)]
    if p.outcome:
        if p.attention:
            lines.append(f"⚠️ **codexbot run needs attention**: {p.message}")
        else:
            lines.append(f"{_ICONS.get(p.outcome, '')} **codexbot run {p.outcome}**: {p.message}".replace("  ", " "))
        if p.detail:
            lines += ["", code_block(p.detail)]
    else:
        lines.append("👀 **codexbot is on it.** I'll update this comment as the run goes.")
    lines.append("")
    current = PHASES.index(p.phase) if p.phase in PHASES else len(PHASES)
    for i, phase in enumerate(PHASES):
        done = i < current or p.outcome == "succeeded"
        suffix = f" ({p.detail})" if i == current and p.detail and not p.outcome else ""
        mark = "x" if done else " "
        arrow = " ⏳" if i == current and not p.outcome else ""
        lines.append(f"- [{mark}] {phase}{suffix}{arrow}")
    lines += ["", f"[Run log]({p.link}) · run `{p.run_id}`"]
    return "\n".join(lines)


def render_help(command: str, errors: tuple[str, ...] = (), notes: tuple[str, ...] = ()) -> str:
    head = ["**codexbot** could not start this run:", *[f"- {e}" for e in errors], ""] if errors else []
    return "\n".join(head + [
        f"**Commands** (a line starting with `{command}`, outside code blocks and quotes):",
        f"- `{command} <task>`: run the agent on the task and answer with a pull request",
        f"- `{command}` alone on an issue: the issue itself is the task",
        f"- `{command} help` · `status` · `cancel` · `retry`",
        f"- on a pull request: `{command} review [focus]` (a review with line comments), `{command} fix-ci` (a commit "
        f"that makes its failing CI pass), `{command} pick N` (attempt N's change instead)",
        "- options in the first line: `--attempts N` (1 to 5), `--models a,b` (one attempt per model), "
        "`--model NAME`, `--fresh` (set up from scratch)",
        "",
        "Repository settings live in `.codexbot.toml` on the default branch (`[setup] commands`, `[test] command`, "
        "`[review] auto`, `[ci] fix_attempts`).",
        *[f"\n_Note: {n}_" for n in notes],
    ])


class NoTracking:
    """A run with no issue to comment on (delegated from a terminal): its log and `codexbot status` show it."""

    def show(self, phase: str, detail: str = "", outcome: str = "", message: str = "", attention: bool = False) -> None:
        return None

    def due(self, every: float) -> bool:
        return False


class TrackingComment:
    """The run's one comment on the issue or pull request: found by its marker, created once, edited in place."""

    def __init__(self, forge, number: int, run_id: str, link: str, redact, comment_id: int | None,
                 remember: Callable[[int], None]):
        self.forge, self.number, self.run_id, self.link, self.redact = forge, number, run_id, link, redact
        self.comment_id, self.remember = comment_id, remember
        self.edited = 0.0  # monotonic time of the last edit, for rate limiting step updates

    def show(self, phase: str, detail: str = "", outcome: str = "", message: str = "", attention: bool = False) -> None:
        self.edited = time.monotonic()
        body = self.redact(render_tracking(Progress(self.run_id, self.link, phase, outcome, message, detail, attention)))
        if self.comment_id is None:
            found = self.forge.find_comment(self.number, marker(self.run_id))
            self.comment_id = found.id if found else self.forge.comment(self.number, body).id
            self.remember(self.comment_id)
        self.forge.edit_comment(self.comment_id, body)

    def due(self, every: float) -> bool:
        return time.monotonic() - self.edited >= every
