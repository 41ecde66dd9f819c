"""The check run (GitHub) or commit status (GitLab) on the commit a run pushed, with its verdict and link."""

from __future__ import annotations

from jobs.forges.base import Forge
from jobs.repo.testing import TestResult


def report_check(forge: Forge, sha: str, tests: TestResult | None, diffstat: str, link: str, redact) -> None:
    """A completed check (GitHub) or commit status (GitLab) on the pushed commit, with the verdict and link."""
    check = forge.start_check(sha, "codexbot", link)
    verdict = tests.summary() if tests is not None else "no tests were run"
    forge.finish_check(check, "success" if tests is None or tests.ok else "failure", verdict,
                       redact(f"{verdict}\n\n```\n{diffstat}\n```\n\n[Run log]({link})"))
