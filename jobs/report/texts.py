"""What the bot writes back: branch names, commit messages, the pull request's title and body."""

from __future__ import annotations

import re

from jobs.repo.delta import TestDelta
from jobs.repo.testing import TestResult
from jobs.report.tracking import code_block
from jobs.types import Trigger

MAX_SUMMARY = 4000
_MENTION = re.compile(r"(?<![\w`/@])@([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:/[A-Za-z0-9._-]+)?)")
_REFERENCE = re.compile(r"(?<![\w`#/])((?:[\w.-]+/[\w.-]+)?[#!]\d+)\b")


def quiet(text: str) -> str:
    """The agent's words, put on the forge without side effects: @mentions and #references become code, so
    nobody is notified and no issue is linked, or closed by a "Fixes #N" the agent wrote."""
    return _REFERENCE.sub(r"`\1`", _MENTION.sub(r"`@\1`", text))


def co_author(trigger: Trigger) -> str:
    """The requester as a Co-authored-by identity, on the forge's no-reply domain."""
    domain = "users.noreply.gitlab.com" if trigger.forge == "gitlab" else "users.noreply.github.com"
    return f"{trigger.author} <{trigger.author}@{domain}>"


def branch_name(trigger: Trigger, run_id: str) -> str:
    return f"codex/{trigger.number}-{run_id[:8]}"


def first_line(text: str, limit: int = 72) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "codexbot change")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def commit_message(trigger: Trigger, task_text: str, summary: str, co_author: str | None) -> str:
    summary = quiet(summary)
    parts = [first_line(summary or task_text), "", summary[:MAX_SUMMARY].strip() or task_text.strip(), "",
             f"Requested by @{trigger.author} in {trigger.repo}#{trigger.number}."]
    if co_author:
        parts += ["", f"Co-authored-by: {co_author}"]
    return "\n".join(parts).strip() + "\n"


def pull_request_title(task_text: str) -> str:
    return first_line(task_text, 100)


def run_cost(steps: int, prompt_tokens: int, completion_tokens: int, dollars: float,
             phases: list[tuple[str, float]], now: float) -> str:
    """What the run cost, in one line: steps, tokens, dollars (where the model is priced), time per phase."""
    spent = f"${dollars:.4f}" if dollars > 0 else "no price known for the model (CODEXBOT_MODEL_PRICES)"
    times = [(name, end - start) for (name, start), end in zip(phases, [at for _, at in phases[1:]] + [now])
             if name != "queued"]
    total = sum(seconds for _, seconds in times)
    per_phase = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times)
    return (f"{steps} steps · {prompt_tokens + completion_tokens:,} tokens ({prompt_tokens:,} in, "
            f"{completion_tokens:,} out) · {spent} · {total:.1f} s" + (f" ({per_phase})" if per_phase else ""))


def pull_request_body(trigger: Trigger, summary: str, tests: TestResult | None, diffstat: str, link: str,
                      test_note: str = "", cost: str = "", draft: bool = False, change: TestDelta | None = None) -> str:
    """The description; a draft (the tests fail with the change, or it makes tests fail) says so first and
    closes nothing. `change`: the tests before and after."""
    lines = []
    if draft and tests is not None:
        what = "the tests fail with this change" if not tests.ok else "this change makes tests fail"
        lines += [f"> [!WARNING]\n> **A draft: {what}** ({tests.summary()}). Review it, ask "
                  f"for a fix with a `/codex …` comment here, or close it"
                  + ("." if trigger.is_pull_request else f"; it does not close #{trigger.number}."), ""]
    lines += [quiet(summary[:MAX_SUMMARY]).strip() or "_The agent gave no summary._", ""]
    if not trigger.is_pull_request and not draft:
        # both forges close the issue when the change merges; each has its own customary word
        lines += [f"{'Closes' if trigger.forge == 'gitlab' else 'Fixes'} #{trigger.number}", ""]
    lines += [f"Requested by @{trigger.author}.", "", "### Tests", ""]
    if tests is not None:
        lines += [("✅ " if tests.ok else "❌ ") + tests.summary(), ""]
        lines += [*change.lines(), ""] if change is not None else []
        lines += ["<details><summary>Output</summary>", "", code_block(tests.output[-6000:].strip()), "</details>", ""]
    else:
        lines += [test_note or "No tests were run.", ""]
    lines += ["### Changes", "", code_block(diffstat or "(none)"), ""]
    if cost:
        lines += [f"**Cost:** {cost}", ""]
    lines += [f"[Run log]({link})"]
    return "\n".join(lines)
