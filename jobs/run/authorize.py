"""Who may start runs: the requester's permission asked of the forge's API (never taken from the payload),
and, for a run delegated from a terminal, the API token that asked for it."""

from __future__ import annotations

from jobs.access.api_tokens import ApiTokens
from jobs.forges.base import Forge, ForgeNotFound
from jobs.intake.rate_limits import release_repo_slot
from jobs.run.cancellation import RunFailed
from jobs.settings import Services
from jobs.settings import PERMISSION_LEVELS
from jobs.types import Trigger

# GitLab people know the roles by these names; the permission levels are GitHub's
GITLAB_ROLES = {"read": "Guest", "triage": "Reporter", "write": "Developer", "maintain": "Maintainer", "admin": "Owner",
                "none": "no role"}


def permission_problem(forge: Forge, login: str, needed: str, forge_name: str = "github") -> str | None:
    """Why this person may not start runs here (checked through the forge's API), or None."""
    try:
        level = forge.permission(login)
    except ForgeNotFound:
        level = "none"  # not a collaborator at all
    have = PERMISSION_LEVELS.index(level) if level in PERMISSION_LEVELS else -1
    if PERMISSION_LEVELS.index(needed) <= have:
        return None
    if forge_name == "gitlab":
        return (f"@{login} needs the {GITLAB_ROLES[needed]} role or higher in this project to run codexbot, "
                f"and has {GITLAB_ROLES.get(level, level)}; nothing was run")
    return f"@{login} needs {needed} access to this repository to run codexbot, and has {level}; nothing was run"


def authorize(services: Services, forge: Forge, trigger: Trigger, run_id: str) -> None:
    """Refuse with RunFailed when the requester lacks the permission; the repository's hourly count gets
    this run back (the requester's does not)."""
    problem = permission_problem(forge, trigger.author, services.settings.min_permission, trigger.forge)
    if problem:
        release_repo_slot(services.redis, trigger, run_id)
        raise RunFailed(problem)


def check_delegation_token(services: Services, trigger: Trigger) -> None:
    """A delegated run runs only while the API token that asked for it is still valid."""
    if ApiTokens(services.redis, services.settings.secret_key).load(trigger.delegation.token_id) is None:
        raise RunFailed("the API token that delegated this run was revoked; nothing was run")
