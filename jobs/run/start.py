"""Where a run's change begins: the default branch, a pull request's head, or a user's commit plus their
uncommitted diff. `prepare` checks it out and chooses, in this one place, the task text the agent gets."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.access.setup_secrets import SecretError, SetupSecrets
from jobs.forges.base import Forge, Repository, ReviewComment, ReviewThreads
from jobs.forges.reviewing import PullReviews
from jobs.git import workspace
from jobs.git.checkout import BaseNotFound, apply_user_diff, check_out, move_to_commit
from jobs.git.pull_heads import check_out_pull_head
from jobs.records import runs
from jobs.repo.config import FILE_NAME, RepoConfig, parse_repo_config
from jobs.report.texts import branch_name
from jobs.run.cancellation import RunFailed
from jobs.run.context import RunContext
from jobs.types import Trigger

MAX_HUNK = 1500
USER_IDENTITY = workspace.Identity("codexbot delegate", "codexbot@users.noreply.github.com")


@dataclass(frozen=True)
class Start:
    """Where the change begins: "default_branch", "pull_request" (its head branch) or "commit"."""

    kind: str
    commit: str = ""  # "commit": the user's base commit
    diff: str = ""  # "commit": the user's uncommitted changes, applied on top
    guard_user_diff: bool = False  # "commit" with --pr: the user's own changes must not touch protected paths

    @classmethod
    def of(cls, trigger: Trigger) -> Start:
        if trigger.delegation is not None:
            d = trigger.delegation
            return cls("commit", d.base_sha, d.diff, d.pull_request)
        return cls("pull_request" if trigger.is_pull_request else "default_branch")


@dataclass(frozen=True)
class Prepared:
    """A checked-out workspace and what the run knows about it."""

    repo: Repository
    config: RepoConfig  # from the default branch, with AGENTS.md as instructions
    base_branch: str  # checked out, and the base of a new pull request
    base_sha: str  # the change is measured from here
    push_branch: str  # where the change goes ("" when it is kept as a diff)
    task_text: str  # what the agent is asked
    review: tuple[ReviewComment, ...] = ()  # the review comments a follow-up answers
    fork_of: int = 0  # a task on a fork's pull request: its number; the change goes to a new pull request


def read_setup_secrets(run: RunContext, prepared: Prepared) -> dict[str, str]:
    """The stored secrets `[setup] secrets` names, for the setup phase only; each is added to the redactor."""
    names = prepared.config.setup_secrets
    if not names:
        return {}
    try:
        values = SetupSecrets(run.conn, run.settings.secret_key).values(prepared.repo.full_name, names)
    except SecretError as exc:
        raise RunFailed(str(exc)) from None
    run.journal.redactor.add(*values.values())
    run.log(f"setup secrets for the setup commands only: {', '.join(names)}")
    return values


def read_repo_config(forge: Forge, default_branch: str) -> RepoConfig:
    """.codexbot.toml and AGENTS.md, always from the default branch, never from a pull request's head."""
    config = parse_repo_config(forge.read_file(FILE_NAME, default_branch))
    agents = forge.read_file("AGENTS.md", default_branch) or ""
    return RepoConfig(**{**config.__dict__, "instructions": agents})


def pull_and_config(run: RunContext):
    """The repository, its settings (default branch) and the pull request the trigger names (None on an issue):
    what a review and a CI repair read before deciding anything."""
    repo = run.forge.repository()
    return repo, read_repo_config(run.forge, repo.default_branch), run.forge.issue(run.task.trigger.number).pull


def prepare(run: RunContext, start: Start) -> Prepared:
    repo = run.forge.repository()
    config = read_repo_config(run.forge, repo.default_branch)
    if start.kind == "commit":
        return _prepare_commit(run, start, repo, config)
    trigger = run.task.trigger
    base_branch, push_branch, task_text, review = repo.default_branch, branch_name(trigger, run.run_id), "", ()
    if start.kind == "pull_request":
        pull, task_text, review = _pull_request_head(run.forge, trigger, repo)
        if pull.head_repo != repo.full_name:
            return _prepare_fork(run, repo, config, pull, task_text)
        base_branch = push_branch = pull.head_branch
    read = run.forge.git_credentials(write=False)
    base_sha = check_out(run.settings, run.services.workspaces, repo, read, base_branch, run.workdir, run.log)
    if push_branch != base_branch and workspace.create_branch(run.workdir, push_branch, read):
        run.log(f"{push_branch} exists from an earlier attempt of this run; continuing from it")
    runs.update_run(run.conn, run.run_id, branch=push_branch, base_sha=base_sha)
    run.log(f"checked out {repo.full_name}@{base_branch}; the change goes to {push_branch}")
    return Prepared(repo, config, base_branch, base_sha, push_branch,
                    task_text or trigger.command.text, tuple(review))


def _prepare_commit(run: RunContext, start: Start, repo: Repository, config: RepoConfig) -> Prepared:
    """A delegated run: the user's commit (fetched by id) with their uncommitted changes committed on top."""
    read = run.forge.git_credentials(write=False)
    check_out(run.settings, run.services.workspaces, repo, read, repo.default_branch, run.workdir, run.log)
    try:
        move_to_commit(run.workdir, start.commit, read)
    except BaseNotFound as exc:
        raise RunFailed(str(exc)) from None
    base_sha = apply_user_diff(run.workdir, start.diff, USER_IDENTITY)
    if start.guard_user_diff:
        _refuse_protected_user_changes(run, start.commit, base_sha, config.protected_paths)
    changed = "with" if start.diff else "without"
    run.log(f"checked out {repo.full_name}@{start.commit[:12]} {changed} the user's uncommitted changes")
    return Prepared(repo, config, repo.default_branch, base_sha, "",
                    run.task.trigger.command.text)


def _refuse_protected_user_changes(run: RunContext, commit: str, base_sha: str, patterns) -> None:
    """With --pr the user's own changes are pushed with codexbot's token: never those to protected paths."""
    names = workspace.git(run.workdir, "diff", "--name-only", "--no-renames", "-z", commit, base_sha).stdout
    protected = sorted(n for n in names.split("\0") if n and workspace.is_protected(n, patterns))
    if protected:
        raise RunFailed(f"your uncommitted changes touch protected paths ({', '.join(protected[:5])}), which "
                        "codexbot does not push for you: commit them yourself, or delegate without --pr")


def _prepare_fork(run: RunContext, repo: Repository, config: RepoConfig, pull, task_text: str) -> Prepared:
    """A task on a fork's pull request (head_repo None: a fork the token cannot see, or one deleted since): the
    fork's head (fetched by the forge's ref for it, which the forge keeps in this repository), and the change on a
    new branch of this repository, `codex/pr-<n>-<run>`, for a new pull request that links the original. Only
    the commenter's permission counts; the fork's code runs only in the sandbox; config is the default branch's."""
    if not isinstance(run.forge, PullReviews):
        raise RunFailed("codexbot cannot fetch a fork's pull request on this forge; comment on an issue instead")
    read = run.forge.git_credentials(write=False)
    check_out(run.settings, run.services.workspaces, repo, read, pull.base_branch, run.workdir, run.log)
    head, merge_base = check_out_pull_head(run.workdir, run.forge.head_ref(pull.number), pull.base_branch, read)
    names = workspace.git(run.workdir, "diff", "--name-only", "--no-renames", "-z", merge_base, head).stdout
    protected = sorted(n for n in names.split("\0") if n and workspace.is_protected(n, config.protected_paths))
    if protected:
        raise RunFailed(f"the fork's changes touch protected paths ({', '.join(protected[:5])}), which codexbot "
                        "does not push with its token: a maintainer can take the change over by hand")
    branch = f"codex/pr-{pull.number}-{run.run_id[:8]}"
    if workspace.create_branch(run.workdir, branch, read):
        run.log(f"{branch} exists from an earlier attempt of this run; continuing from it")
    runs.update_run(run.conn, run.run_id, branch=branch, base_sha=head)
    run.log(f"checked out the fork's pull request #{pull.number} at {head[:12]}; the change goes to {branch} "
            f"in {repo.full_name}, for a new pull request into {pull.base_branch}")
    return Prepared(repo, config, pull.base_branch, head, branch, task_text, (), fork_of=pull.number)


def _pull_request_head(forge: Forge, trigger: Trigger, repo: Repository):
    """The pull request, the task built from the review, and the review comments it answers."""
    issue = forge.issue(trigger.number)
    if issue.pull is None:
        raise RunFailed(f"#{trigger.number} is not a pull request any more; comment on an issue instead")
    if issue.pull.head_branch == repo.default_branch and issue.pull.head_repo == repo.full_name:
        raise RunFailed(f"this pull request's head is the default branch ({repo.default_branch}), which codexbot "
                        "never pushes to; ask on an issue, or on a pull request from another branch")
    comments = review_comments_for(forge, trigger)
    return issue.pull, followup_task(trigger.command.text, issue.title, issue.body, comments), comments


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
