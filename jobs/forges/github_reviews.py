"""GitHubForge's side of reviews and CI repairs: pull request reviews with line comments, the codexbot findings
still open on a pull request, and a commit's check runs and statuses with the failing GitHub Actions jobs' logs."""

from __future__ import annotations

import github
import requests

from jobs.forges.base import ForgeError
from jobs.forges.github_app import InstallationAuth
from jobs.forges.retrying import remint_once, retry_cut_off
from jobs.forges.reviewing import ChecksState, FailedCheck, LineComment, PostedReview, finding_keys

CI_PERMISSIONS = {"checks": "read", "statuses": "read", "actions": "read", "metadata": "read"}
FAILED = ("failure", "timed_out", "startup_failure", "action_required")
LOG_BYTES = 200_000  # of one job's log, kept from its end
MAX_LOG_READ = 64_000_000
MAX_CHECKS = 100


class GitHubReviews:
    """Mixed into GitHubForge: uses its repository handle, tokens and error translation."""

    def head_ref(self, number: int) -> str:
        return f"refs/pull/{number}/head"

    @remint_once
    def post_review(self, number: int, head_sha: str, base_sha: str, summary: str,
                    comments: list[LineComment]) -> PostedReview:
        """One COMMENT review; when GitHub refuses a line (the diff moved meanwhile), the review is posted
        again with the line comments in its body, so nothing the review found is lost."""
        lines = [{"path": c.path, "line": c.line, "side": "RIGHT", "body": c.body} for c in comments]
        with self._calling(f"post a review on pull request #{number}", "pull_requests: write",
                           self._missing(f"pull request #{number}")):
            pull = self._repo.get_pull(number)
            commit = self._repo.get_commit(head_sha)
            try:
                review = pull.create_review(commit=commit, body=summary, event="COMMENT", comments=lines)
                return PostedReview(review.html_url, len(lines))
            except github.GithubException as error:
                if error.status != 422 or not lines:
                    raise
            body = summary + "\n\nLine comments GitHub did not accept on the diff:\n" + "\n".join(
                f"- `{c.path}:{c.line}`: {c.body}" for c in comments)
            return PostedReview(pull.create_review(commit=commit, body=body, event="COMMENT").html_url, 0)

    @retry_cut_off
    @remint_once
    def find_review(self, number: int, marker: str) -> str | None:
        with self._calling(f"read the reviews of pull request #{number}", "pull_requests: read"):
            for review in self._repo.get_pull(number).get_reviews():
                if marker in (review.body or ""):
                    return review.html_url
        return None

    @retry_cut_off
    @remint_once
    def open_finding_keys(self, number: int) -> set[str]:
        """Keys of line comments GitHub still shows on the diff (an outdated one has no line any more)."""
        with self._calling(f"read the review comments of pull request #{number}", "pull_requests: read"):
            bodies = [c.body or "" for c in self._repo.get_pull(number).get_review_comments() if c.line is not None]
        return finding_keys(bodies)

    @retry_cut_off
    def checks(self, number: int, head_sha: str, own_check: str, tail_lines: int) -> ChecksState:
        """Check runs (without codexbot's own) and commit statuses of head_sha; Actions jobs with their logs."""
        client = self._ci_client()
        repo = client.get_repo(self.repo) if client is not None else self._repo
        with self._calling(f"read the checks of {head_sha[:12]}", "checks: read, statuses: read"):
            commit = repo.get_commit(head_sha)
            runs = [r for r in list(commit.get_check_runs())[:MAX_CHECKS]
                    if r.name != own_check and str(r.app.id) != str(self.app.app_id)]
            statuses = list(commit.get_combined_status().statuses)[:MAX_CHECKS]
            pending = any(r.status != "completed" for r in runs) or any(s.state == "pending" for s in statuses)
            failed = [FailedCheck(r.name, r.html_url or "", self._log_tail(repo, r, tail_lines))
                      for r in runs if r.conclusion in FAILED]
            failed += [FailedCheck(s.context, s.target_url or "", s.description or "")
                       for s in statuses if s.state in ("failure", "error")]
        if client is not None:
            client.close()
        return ChecksState("pending" if pending else "failure" if failed else "success", tuple(failed))

    def _ci_client(self) -> github.Github | None:
        """A client whose token may read Actions logs and statuses; None for an App installed before it asked
        for those permissions, which then reads check runs with its usual token (and no logs)."""
        try:
            self._token(CI_PERMISSIONS)
        except ForgeError:
            return None
        return github.Github(auth=InstallationAuth(lambda: self._token(CI_PERMISSIONS)), base_url=self.app.api_url,
                             timeout=30, lazy=True)

    def _log_tail(self, repo, run, tail_lines: int) -> str:
        """The end of a GitHub Actions job's log (a check run's id is its job's id), else the run's own output."""
        output = run.output
        fallback = "\n".join(part for part in (output.title, output.summary, output.text) if part) if output else ""
        if run.app.slug != "github-actions":
            return _tail(fallback, tail_lines)
        try:
            location = repo.get_workflow_job(run.id).logs_url()
            data = _end_of(location)
        except (github.GithubException, requests.RequestException):
            return _tail(fallback, tail_lines) or "(the job's log could not be read)"
        return _tail(data.decode("utf-8", "replace"), tail_lines)


def _end_of(url: str) -> bytes:
    """The last LOG_BYTES of the log at a pre-signed URL (no token goes there), reading at most MAX_LOG_READ."""
    kept = b""
    with requests.get(url, timeout=30, stream=True) as answer:
        answer.raise_for_status()
        for read, chunk in enumerate(answer.iter_content(65536)):
            kept = (kept + chunk)[-LOG_BYTES:]
            if read * 65536 > MAX_LOG_READ:
                break
    return kept


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().split("\n")[-lines:])
