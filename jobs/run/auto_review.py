"""Whether a pull request that was opened or marked ready gets an automatic review: the repository asked for
them (`[review] auto = true`), its author (by the API, not the payload) is a person who may start runs, it is
not a draft, and its head was not reviewed automatically before. A skipped one says nothing on the forge."""

from __future__ import annotations

from jobs.forges.base import PullRequest
from jobs.repo.config import RepoConfig
from jobs.run.authorize import permission_problem
from jobs.run.context import RunContext

REVIEWED_TTL = 90 * 24 * 3600


def reviewed_key(forge: str, repo: str, number: int, head_sha: str) -> str:
    return f"codexbot:auto-reviewed:{forge}:{repo.lower()}:{number}:{head_sha}"


def skip_reason(run: RunContext, config: RepoConfig, pull: PullRequest) -> str:
    """Why this pull request gets no automatic review, or "" (then its head is marked reviewed)."""
    trigger = run.task.trigger
    if not config.review_auto:
        return "the repository does not ask for them ([review] auto = true in .codexbot.toml)"
    if pull.state != "open" or pull.draft:
        return "the pull request is a draft or closed"
    # whoever opened, reopened or marked it ready (the webhook's claim), the author read from the API decides
    author = pull.author.lower()
    bot = run.settings.github_bot_login.lower()
    if author.endswith("[bot]") or (bot and author == bot) or pull.head_branch.startswith("codex/"):
        return "a bot opened it"
    if permission_problem(run.forge, pull.author, run.settings.min_permission, trigger.forge):
        return f"@{pull.author} may not start codexbot runs here"
    key = reviewed_key(trigger.forge, trigger.repo, pull.number, pull.head_sha)
    if not run.conn.set(key, run.run_id, nx=True, ex=REVIEWED_TTL):
        return f"its head {pull.head_sha[:12]} was reviewed already"
    return ""
