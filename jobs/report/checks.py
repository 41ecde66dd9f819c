"""The check run (GitHub) or commit status (GitLab) on the commit a run pushed, with its verdict and link."""

from __future__ import annotations

from jobs.forges.base import Forge
from jobs.repo.delta import TestDelta
from jobs.repo.testing import TestResult
from jobs.report.tracking import code_block


CHECK_NAME = "codexbot"  # the check run (GitHub) or commit status (GitLab) on each commit codexbot pushes

def report_check(forge: Forge, sha: str, tests: TestResult | None, diffstat: str, link: str, redact,
                 change: TestDelta | None = None) -> None:
    """A completed check (GitHub) or commit status (GitLab) on the pushed commit, with the verdict, the tests
    before and after the change, and the link. It fails when tests fail or the change made some fail."""
    check = forge.start_check(sha, CHECK_NAME, link)
    verdict = tests.summary() if tests is not None else "no tests were run"
    failing = tests is not None and (not tests.ok or (change is not None and change.newly_failing))
    before_after = "\n".join(change.lines()) + "\n\n" if change is not None else ""
    forge.finish_check(check, "failure" if failing else "success", verdict,
                       redact(f"{verdict}\n\n{before_after}{code_block(diffstat)}\n\n[Run log]({link})"))
