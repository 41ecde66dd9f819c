"""A run delegated from a terminal (`codexbot delegate`): the pipeline, started at the user's commit plus their
uncommitted changes, answering with a stored diff (for `codexbot apply`) instead of a pull request."""

from __future__ import annotations

from dataclasses import replace

import requests

from jobs.records import delegated

from jobs.records import runs

from jobs.git import workspace
from jobs.access.api_tokens import ApiTokens
from jobs.run.cancellation import RunFailed
from jobs.git.checkout import BaseNotFound, apply_user_diff, check_out, move_to_commit
from jobs.run.wiring import github_app, make_forge
from jobs.forges.base import ForgeNotFound, ForgeUnavailable
from jobs.local.checkout import preimages_of
from jobs.run.pipeline import BOT_IDENTITY, Pipeline
from jobs.report.texts import pull_request_body, pull_request_title
from jobs.records.results import store_outcome
from jobs.repo.config import FILE_NAME, RepoConfig, parse_repo_config
from jobs.types import Task

USER_IDENTITY = workspace.Identity("codexbot delegate", "codexbot@users.noreply.github.com")
API_TIMEOUT = 30


class NoTracking:
    """A delegated run has no issue to comment on: its log and `codexbot status` show progress instead."""

    def show(self, phase: str, detail: str = "", outcome: str = "", message: str = "") -> None:
        return None

    def due(self, every: float) -> bool:
        return False


def find_installation(app, api_url: str, repo: str) -> tuple[int, int]:
    """The App installation on repo and the repository's id, asked of GitHub (not taken from the client)."""
    answer = requests.get(f"{api_url.rstrip('/')}/repos/{repo}/installation", timeout=API_TIMEOUT,
                          headers={"Authorization": f"Bearer {app.app_jwt()}", "Accept": "application/vnd.github+json"})
    if answer.status_code == 404:
        raise ForgeNotFound(f"the codexbot GitHub App is not installed on {repo}: install it there, then delegate again")
    if answer.status_code != 200:
        raise ForgeUnavailable(f"GitHub answered {answer.status_code} when asked for the installation on {repo}")
    installation_id = int(answer.json()["id"])
    token = app.installation_token(installation_id, [], {"metadata": "read"})
    info = requests.get(f"{api_url.rstrip('/')}/repos/{repo}", timeout=API_TIMEOUT,
                        headers={"Authorization": f"token {token.token}", "Accept": "application/vnd.github+json"})
    if info.status_code != 200:
        raise ForgeNotFound(f"GitHub did not show {repo} to its App installation ({info.status_code})")
    return installation_id, int(info.json()["id"])


class DelegatedPipeline(Pipeline):
    """What differs from a comment's run: where the forge details come from, where it starts and how it ends."""

    def _connect(self, task: Task):
        trigger = task.trigger
        if ApiTokens(self.conn, self.settings.secret_key).load(trigger.delegation.token_id) is None:
            raise RunFailed("the API token that delegated this run was revoked; nothing was run")
        if trigger.forge == "github":
            installation_id, repo_id = find_installation(github_app(self.services), self.settings.github_api_url,
                                                         trigger.repo)
            trigger = replace(trigger, installation_id=installation_id, repo_id=repo_id)
        return make_forge(self.services, trigger, log=self.log)

    def _make_tracking(self, task, record):
        return NoTracking()

    def _react(self, outcome: str) -> None:
        return None

    def _run(self, task: Task) -> str:
        self._authorize(task.trigger)
        return self._run_task(task)

    def _prepare(self, task: Task):
        delegation = task.trigger.delegation
        repo = self.forge.repository()
        config = parse_repo_config(self.forge.read_file(FILE_NAME, repo.default_branch))
        agents = self.forge.read_file("AGENTS.md", repo.default_branch) or ""
        read = self.forge.git_credentials(write=False)
        prepared = check_out(self.settings, self.services.workspaces, repo, read, repo.default_branch, self.workdir,
                             self.log)
        self.saved_git_config = prepared.saved_git_config
        try:
            move_to_commit(self.workdir, delegation.base_sha, read)
        except BaseNotFound as exc:
            raise RunFailed(str(exc)) from None
        self.base_sha = apply_user_diff(self.workdir, delegation.diff, USER_IDENTITY)
        self.protected_paths = config.protected_paths
        if delegation.pull_request:
            self._refuse_protected_user_changes(delegation.base_sha)
        changed = "with" if delegation.diff else "without"
        self.log(f"checked out {repo.full_name}@{delegation.base_sha[:12]} {changed} the user's uncommitted changes")
        return repo, RepoConfig(**{**config.__dict__, "instructions": agents}), repo.default_branch, ""

    def _refuse_protected_user_changes(self, base: str) -> None:
        """With --pr the user's own changes are pushed with codexbot's token: never those to protected paths."""
        names = workspace.git(self.workdir, "diff", "--name-only", "--no-renames", "-z", base, self.base_sha).stdout
        protected = sorted(n for n in names.split("\0") if n and workspace.is_protected(n, self.protected_paths))
        if protected:
            raise RunFailed(f"your uncommitted changes touch protected paths ({', '.join(protected[:5])}), which "
                            "codexbot does not push for you: commit them yourself, or delegate without --pr")

    def _publish(self, task, result, tests, base_branch, push_branch) -> str:
        """Keep the agent's change as a diff from base + user diff, so `apply` adds only the agent's work."""
        reverted = workspace.revert_protected(self.workdir, self.protected_paths)
        if reverted:
            self.log("reverted the agent's changes to protected paths: " + ", ".join(reverted))
        workspace.commit_all(self.workdir, self.redactor.redact(f"codexbot: {result.summary or 'change'}"),
                             BOT_IDENTITY)
        diff = workspace.git(self.workdir, "diff", "--binary", "--no-renames", "--no-color", "--no-ext-diff",
                             "--no-textconv", f"{self.base_sha}..HEAD").stdout
        if not diff:
            raise RunFailed("the agent finished without changing any file" +
                            (f": {self.redactor.redact(result.summary)}" if result.summary else ""))
        workspace.check_diff_size(self.workdir, self.base_sha, self.settings.max_diff_bytes)
        store_outcome(self.conn, self.run_id, self.redactor, result.transcript, diff, tests)
        delegated.store_result(self.conn, self.run_id, self.redactor.redact(diff), self.base_sha,
                                       preimages_of(self.workdir, self.base_sha))
        verdict = tests.summary() if tests else "no tests were run"
        opened = self._open_pull_request(task, result, tests) if task.trigger.delegation.pull_request else ""
        return self._finish("succeeded", f"the change is ready: run `codexbot apply {self.run_id}` ({verdict}){opened}")

    def _open_pull_request(self, task: Task, result, tests) -> str:
        """`delegate --pr`: the user's changes and the agent's, as two commits on a new branch, against the
        default branch (which also shows the user's own unmerged commits if their base was not on it)."""
        branch = f"codex/delegated-{self.run_id[:8]}"
        workspace.push(self.workdir, branch, self.forge.git_credentials(write=True))
        self.log(f"pushed {workspace.head_sha(self.workdir)[:12]} to {branch}")
        repo = self.forge.repository()
        # the body of a comment's pull request, without the "Fixes #N" line: no issue asked for this one
        body = pull_request_body(replace(task.trigger, is_pull_request=True), result.summary, tests,
                                 workspace.diff_stat(self.workdir, self.base_sha), self.link)
        pull = self.forge.open_pull_request(branch, repo.default_branch, pull_request_title(task.trigger.command.text),
                                            self.redactor.redact(body))
        runs.update_run(self.conn, self.run_id, pr_url=pull.url, branch=branch)
        return f"; opened {pull.url}"
