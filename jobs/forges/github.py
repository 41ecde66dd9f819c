"""GitHubForge: the forge protocol over GitHub's REST API, with App tokens scoped to repo and phase."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import github
import requests
from github.IssueComment import IssueComment

from jobs.forges.base import (PERMISSIONS, Comment, ForgeConflict, ForgeError, ForgeUnavailable, GitCredentials, Issue,
                              PullRequest, Repository, ReviewComment, decode_text)
from jobs.forges.retrying import ApiWatch, forge_retry, remint_once, retry_cut_off
from jobs.forges.github_app import GitHubApp, InstallationAuth
from jobs.forges.github_reviews import GitHubReviews
from jobs.forges.github_shapes import (comment_of, detail_of, explain_error, latest_labeler, pull_of,
                                      review_comment_of)

API_PERMISSIONS = {"issues": "write", "pull_requests": "write", "checks": "write",
                   "contents": "read", "metadata": "read"}
READ_PERMISSIONS = {"contents": "read", "metadata": "read"}
WRITE_PERMISSIONS = {"contents": "write", "pull_requests": "write", "metadata": "read"}
TIMEOUT = 30  # seconds per request
SUMMARY_LIMIT = 65535  # GitHub refuses longer check run summaries with a 422
CUT_NOTE = "\n\n… (cut to fit GitHub's limit)"


class GitHubForge(GitHubReviews):
    """One repository on GitHub, seen through one App installation; enough thread safety for one job."""

    def __init__(self, app: GitHubApp, installation_id: int, repo: str, repo_id: int, *,
                 bot_login: str = "", watch: ApiWatch | None = None, backoff: float = 0.5):
        """watch: where API calls and retry waits are reported; backoff: seconds before the second retry."""
        self.app, self.installation_id, self.repo, self.repo_id = app, installation_id, repo, repo_id
        self._bot_login = bot_login
        self.watch = watch or ApiWatch("github")
        self._minted: set[str] = set()
        self._api_token = ""
        self._lock = threading.Lock()
        self._github = github.Github(auth=InstallationAuth(lambda: self._token(API_PERMISSIONS)),
                                     base_url=app.api_url, timeout=TIMEOUT,
                                     retry=forge_retry("github", self.watch, backoff=backoff),
                                     seconds_between_requests=0, seconds_between_writes=0, lazy=True)
        self._repo = self._github.get_repo(repo)  # lazy: no request until an attribute is read

    def __repr__(self) -> str:
        return f"GitHubForge(repo={self.repo!r}, installation_id={self.installation_id!r})"

    @retry_cut_off
    @remint_once
    def repository(self) -> Repository:
        missing = f"the GitHub App cannot access {self.repo}: install the App on that repository"
        with self._calling("read the repository", "metadata: read", missing):
            repo = self._github.get_repo(self.repo).complete()
        return Repository(full_name=repo.full_name, id=repo.id, default_branch=repo.default_branch,
                          clone_url=repo.clone_url, html_url=repo.html_url)

    @retry_cut_off
    @remint_once
    def issue(self, number: int) -> Issue:
        with self._calling(f"read issue #{number}", "issues: read", self._missing(f"issue #{number}")):
            issue = self._repo.get_issue(number).complete()
            pull = pull_of(self._repo.get_pull(number)) if issue.pull_request is not None else None
        return Issue(number=issue.number, title=issue.title, body=issue.body or "",
                     state=issue.state, url=issue.html_url, is_pull_request=pull is not None, pull=pull)

    @retry_cut_off
    @remint_once
    def permission(self, login: str) -> str:
        with self._calling(f"read the permission of {login}", "metadata: read",
                           f"GitHub has no user {login} for {self.repo}: check the login"):
            role = self._repo.get_collaborator_role_name(login)
            if role in PERMISSIONS:
                return role
            # Custom organisation roles have their own names; the legacy field gives their base level.
            return self._repo.get_collaborator_permission(login)

    @remint_once
    def comment(self, number: int, body: str) -> Comment:
        with self._calling(f"comment on #{number}", "issues: write", self._missing(f"issue #{number}")):
            return comment_of(self._repo.get_issue(number).create_comment(body))

    @retry_cut_off
    @remint_once
    def edit_comment(self, comment_id: int, body: str) -> None:
        with self._calling(f"edit comment {comment_id}", "issues: write",
                           self._missing(f"comment {comment_id}")):
            self._issue_comment(comment_id).edit(body)

    @retry_cut_off
    @remint_once
    def read_comment(self, number: int, comment_id: int) -> Comment:
        with self._calling(f"read comment {comment_id} on #{number}", "issues: read",
                           self._missing(f"comment {comment_id} on #{number}")):
            return comment_of(self._repo.get_issue(number).get_comment(comment_id))

    @retry_cut_off
    @remint_once
    def labeled_by(self, number: int, label: str, removed: bool = False) -> str | None:
        """Who last added (removed: took off) the label, by the issue's events (newest first); None: nobody."""
        with self._calling(f"read the events of issue #{number}", "issues: read", self._missing(f"issue #{number}")):
            events = self._repo.get_issue(number).get_events().reversed
            return latest_labeler(events, label, "unlabeled" if removed else "labeled")

    @retry_cut_off
    @remint_once
    def find_comment(self, number: int, marker: str) -> Comment | None:
        bot = (self._bot_login or self.app.bot_login()).lower()
        with self._calling(f"read the comments on #{number}", "issues: read",
                           self._missing(f"issue #{number}")):
            for comment in self._repo.get_issue(number).get_comments():
                # Only the bot's own comments: anyone can paste a marker into theirs.
                if marker in (comment.body or "") and comment.user.login.lower() == bot:
                    return comment_of(comment)
        return None

    @retry_cut_off
    @remint_once
    def react(self, number: int, comment_id: int | None, content: str) -> None:
        target = self._repo.get_issue(number) if comment_id is None else self._issue_comment(comment_id)
        where = f"issue #{number}" if comment_id is None else f"comment {comment_id}"
        # GitHub answers an existing reaction with 200 and no duplicate, so this is idempotent.
        with self._calling(f"react with {content} on {where}", "issues: write", self._missing(where)):
            target.create_reaction(content)

    @retry_cut_off
    @remint_once
    def find_pull_request(self, head_branch: str) -> PullRequest | None:
        owner = self.repo.split("/")[0]
        with self._calling(f"look up the pull request from {head_branch}", "pull_requests: read"):
            pulls = [pull_of(p) for p in self._repo.get_pulls(state="all", head=f"{owner}:{head_branch}")]
        pulls = [p for p in pulls if (p.head_repo or "").lower() == self.repo.lower()]
        # An open one is the live one; otherwise the newest closed one.
        pulls.sort(key=lambda p: (p.state == "open", p.number), reverse=True)
        return pulls[0] if pulls else None

    @remint_once
    def open_pull_request(self, head_branch: str, base_branch: str, title: str, body: str,
                          draft: bool = False) -> PullRequest:
        """The pull request from head_branch, opened only if none exists (open or closed); `draft` opens it as
        a draft, which cannot be merged until someone marks it ready."""
        existing = self.find_pull_request(head_branch)
        if existing is not None:
            return existing
        with self._calling(f"open a pull request from {head_branch} into {base_branch}",
                           "pull_requests: write"):
            try:
                return pull_of(self._repo.create_pull(base=base_branch, head=head_branch, title=title,
                                                    body=body, draft=draft))
            except github.GithubException as error:
                if error.status != 422 or "already exists" not in detail_of(error):
                    raise
        # Another attempt of this job opened it between our look-up and our create.
        existing = self.find_pull_request(head_branch)
        if existing is None:
            raise ForgeConflict(f"GitHub says a pull request from {head_branch} already exists in "
                                f"{self.repo} but does not list it: look for it and close or reopen it")
        return existing

    @retry_cut_off
    @remint_once
    def update_pull_request(self, number: int, *, title: str | None = None,
                            body: str | None = None) -> PullRequest:
        changes = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
        with self._calling(f"update pull request #{number}", "pull_requests: write",
                           self._missing(f"pull request #{number}")):
            pull = self._repo.get_pull(number)
            if changes:
                pull.edit(**changes)
            return pull_of(pull)

    @retry_cut_off
    @remint_once
    def review_comments(self, number: int, review_id: int) -> list[ReviewComment]:
        with self._calling(f"read the comments of review {review_id} on #{number}", "pull_requests: read",
                           self._missing(f"review {review_id} on pull request #{number}")):
            pull = self._repo.get_pull(number)
            return [review_comment_of(c) for c in pull.get_single_review_comments(review_id)]

    @retry_cut_off
    @remint_once
    def review_comment(self, number: int, comment_id: int) -> ReviewComment:
        with self._calling(f"read review comment {comment_id}", "pull_requests: read",
                           self._missing(f"review comment {comment_id}")):
            return review_comment_of(self._repo.get_pull(number).get_review_comment(comment_id))

    @remint_once
    def reply_to_review_comment(self, number: int, comment_id: int, body: str) -> None:
        with self._calling(f"reply on review thread {comment_id}", "pull_requests: write",
                           self._missing(f"review comment {comment_id}")):
            self._repo.get_pull(number).create_review_comment_reply(comment_id, body)

    @retry_cut_off
    @remint_once
    def read_file(self, path: str, ref: str) -> str | None:
        with self._calling(f"read {path} at {ref}", "contents: read"):
            try:
                found = self._repo.get_contents(path, ref=ref)
            except github.UnknownObjectException:
                return None
            if isinstance(found, list) or found.type != "file" or found.content is None:
                raise ForgeError(f"{path} at {ref} in {self.repo} is not a small file (a directory, "
                                 "link or file over 1 MB): make it a plain text file")
            data = found.decoded_content
        return decode_text(data, f"{path} at {ref} in {self.repo}")

    def git_credentials(self, write: bool) -> GitCredentials:
        permissions = WRITE_PERMISSIONS if write else READ_PERMISSIONS
        return GitCredentials("x-access-token", self._token(permissions))

    @remint_once
    def start_check(self, head_sha: str, name: str, details_url: str) -> int:
        extra = {"details_url": details_url} if details_url else {}
        with self._calling(f"start the check run {name!r}", "checks: write",
                           self._missing(f"commit {head_sha}")):
            run = self._repo.create_check_run(name=name, head_sha=head_sha, status="in_progress", **extra)
            return run.id

    @retry_cut_off
    @remint_once
    def finish_check(self, check_id: int, conclusion: str, title: str, summary: str) -> None:
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[:SUMMARY_LIMIT - len(CUT_NOTE)] + CUT_NOTE
        with self._calling(f"finish the check run {check_id}", "checks: write",
                           self._missing(f"check run {check_id}")):
            self._repo.get_check_run(check_id).edit(status="completed", conclusion=conclusion,
                                                    output={"title": title, "summary": summary})

    def close(self) -> None:
        """Revokes every token this forge minted; tries them all, then raises the first failure."""
        with self._lock:
            tokens, self._minted = sorted(self._minted), set()
        failures = []
        for token in tokens:
            try:
                self.app.revoke(token)
            except ForgeError as error:
                failures.append(error)
        self._github.close()
        if failures:
            raise failures[0]

    def _token(self, permissions: dict[str, str]) -> str:
        token = self.app.installation_token(self.installation_id, [self.repo_id], permissions).token
        with self._lock:
            self._minted.add(token)
            if permissions is API_PERMISSIONS:
                self._api_token = token
        return token

    def _drop_api_token(self) -> bool:
        """Makes the next API request mint a new token; False when there was none to drop."""
        with self._lock:
            token, self._api_token = self._api_token, ""
        if token:
            self.app.forget(token)
        return bool(token)

    def _issue_comment(self, comment_id: int) -> IssueComment:
        return IssueComment(self._repo.requester, url=f"{self._repo.url}/issues/comments/{comment_id}")

    def _missing(self, thing: str) -> str:
        return f"GitHub found no {thing} in {self.repo}: check it exists and the App is installed there"

    @contextmanager
    def _calling(self, action: str, permission: str, missing: str = "") -> Iterator[None]:
        """Turns PyGithub and network failures into ForgeErrors that say what to fix."""
        try:
            yield
        except github.GithubException as error:
            self.watch.called(str(error.status))
            raise explain_error(error, f"{action} in {self.repo}", permission, missing) from error
        except requests.RequestException as error:
            self.watch.called("unreachable")
            raise ForgeUnavailable(f"could not reach GitHub at {self.app.api_url} to {action} "
                                   f"({type(error).__name__}): check the network and "
                                   "CODEXBOT_GITHUB_API_URL") from error
        else:
            self.watch.called("ok")
