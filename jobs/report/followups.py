"""Follow-up runs on a pull request: the task built from the review, replies on its threads, the description."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.forges.base import Forge, ReviewComment, ReviewThreads
from jobs.repo.testing import TestResult
from jobs.types import Trigger

MAX_HUNK = 1500
FOLLOWUPS_HEADING = "### Follow-ups"


@dataclass(frozen=True)
class Followup:
    branch: str
    comments: list[ReviewComment]
    task_text: str


def plan_followup(forge: Forge, trigger: Trigger, repo_full_name: str) -> Followup | None:
    """The branch to push to, the review to answer and the task to give; None for a fork's pull request."""
    issue = forge.issue(trigger.number)
    if issue.pull is None or issue.pull.head_repo != repo_full_name:
        return None
    comments = review_comments_for(forge, trigger)
    return Followup(issue.pull.head_branch, comments, followup_task(trigger.command.text, issue.title, issue.body, comments))


def finish_followup(forge: Forge, trigger: Trigger, comments: list[ReviewComment], head: str, summary: str,
                    tests: TestResult | None, branch: str, run_id: str, link: str, redact) -> str:
    """Reply on the addressed threads, extend the description of codexbot's own pull request; the outcome."""
    replies = reply_on_threads(forge, trigger.number, comments, head, redact(summary))
    if branch.startswith("codex/"):
        body = forge.issue(trigger.number).body
        forge.update_pull_request(trigger.number, body=redact(updated_description(body, run_id, summary, tests, link)))
    verdict = tests.summary() if tests else "No tests were run."
    answered = f" and answered {replies} review thread(s)" if replies else ""
    return f"pushed {head[:12]} to `{branch}`{answered}. {verdict}"


def review_comments_for(forge: Forge, trigger: Trigger) -> list[ReviewComment]:
    """The line comments this run answers: all of a submitted review's, or the one with the command."""
    if not isinstance(forge, ReviewThreads):
        return []
    if trigger.review_id is not None:
        return forge.review_comments(trigger.number, trigger.review_id)
    if trigger.review_comment_id is not None:
        return [forge.review_comment(trigger.number, trigger.review_comment_id)]
    return []


def followup_task(instruction: str, pull_title: str, pull_body: str, comments: list[ReviewComment]) -> str:
    """What the agent is told on a pull request: the change so far, the review, and the instruction."""
    parts = [f"This is a follow-up on the pull request \"{pull_title}\", checked out at its branch.",
             "", "What the pull request says about the change so far:", "", (pull_body or "(no description)").strip()]
    if comments:
        parts += ["", "The reviewer's comments on lines of the change:"]
        for c in comments:
            where = f"{c.path}:{c.line}" if c.line else c.path
            parts += ["", f"- {where} (@{c.author}): {c.body.strip()}", "  the diff hunk it refers to:",
                      "  " + c.diff_hunk[-MAX_HUNK:].replace("\n", "\n  ")]
    parts += ["", "What to do now:", "", instruction.strip() or "Address the review comments above."]
    return "\n".join(parts)


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


def report_check(forge: Forge, sha: str, tests: TestResult | None, diffstat: str, link: str, redact) -> None:
    """A completed check (GitHub) or commit status (GitLab) on the pushed commit, with the verdict and link."""
    check = forge.start_check(sha, "codexbot", link)
    verdict = tests.summary() if tests is not None else "no tests were run"
    forge.finish_check(check, "success" if tests is None or tests.ok else "failure", verdict,
                       redact(f"{verdict}\n\n```\n{diffstat}\n```\n\n[Run log]({link})"))
