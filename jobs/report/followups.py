"""What a follow-up run on a pull request says there: replies on the review threads it answered, and one
more entry in the description of codexbot's own pull request."""

from __future__ import annotations

from jobs.forges.base import Forge, ReviewComment, ReviewThreads
from jobs.repo.testing import TestResult
from jobs.report.texts import quiet
from jobs.types import Trigger

FOLLOWUPS_HEADING = "### Follow-ups"


def finish_followup(forge: Forge, trigger: Trigger, comments: list[ReviewComment], head: str, summary: str,
                    tests: TestResult | None, branch: str, run_id: str, link: str, redact) -> str:
    """Reply on the addressed threads, extend the description of codexbot's own pull request; the outcome."""
    replies = reply_on_threads(forge, trigger.number, comments, head, quiet(redact(summary)))
    if branch.startswith("codex/"):
        body = forge.issue(trigger.number).body
        forge.update_pull_request(trigger.number, body=redact(updated_description(body, run_id, quiet(summary), tests,
                                                                                  link)))
    verdict = tests.summary() if tests else "No tests were run."
    answered = f" and answered {replies} review thread(s)" if replies else ""
    return f"pushed {head[:12]} to `{branch}`{answered}. {verdict}"


def reply_on_threads(forge: Forge, number: int, comments: list[ReviewComment], sha: str, summary: str) -> int:
    """Tell each addressed thread what changed, with the commit; the number of replies posted."""
    if not isinstance(forge, ReviewThreads):
        return 0
    first = next((line for line in summary.splitlines() if line.strip()), "the review was addressed")
    for comment in comments:
        forge.reply_to_review_comment(number, comment.id, f"Addressed in {sha[:12]}: {first.strip()}")
    return len(comments)


def updated_description(body: str, run_id: str, summary: str, tests: TestResult | None, link: str) -> str:
    """The description keeps the whole story: the first change, then one entry per follow-up."""
    verdict = tests.summary() if tests is not None else "no tests were run"
    first = next((line for line in summary.splitlines() if line.strip()), "follow-up")
    entry = f"- run `{run_id[:8]}`: {first.strip()} ({verdict}, [log]({link}))"
    if FOLLOWUPS_HEADING in body:
        return body.rstrip() + "\n" + entry + "\n"
    return body.rstrip() + f"\n\n{FOLLOWUPS_HEADING}\n\n{entry}\n"
