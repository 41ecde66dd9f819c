"""Who may start runs and what they asked: the comment and the requester's permission read from the forge's
API (never taken from the payload), and, for a run delegated from a terminal, the API token that asked."""

from __future__ import annotations

from dataclasses import replace

from jobs.access.api_tokens import ApiTokens
from jobs.forges.base import Forge, ForgeNotFound
from jobs.intake.commands import PULL_WORDS, as_task, bare_command, issue_task, parse_command
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


def confirm_request(forge: Forge, trigger: Trigger, command_word: str, label: str) -> None:
    """The webhook is a claim: the comment that asked is read back from the forge's API, and its author and
    command must be the ones the webhook named; for a label, whoever last added it (by the forge's label
    events) must be the one the webhook named; an issue's text that is the task must be the issue's now."""
    asked = trigger.command
    if trigger.source == "label":
        _confirm_label(forge, trigger, label)
    if trigger.source == "comment" and trigger.comment_id is not None:
        comment = forge.read_comment(trigger.number, trigger.comment_id)
        if comment.author.lower() != trigger.author.lower():
            raise RunFailed(f"the comment that asked for this run was written by @{comment.author}, not by "
                            f"@{trigger.author} as the webhook said; nothing was run")
        asked = parse_command(comment.body, command_word)
        if asked is not None and asked.kind in PULL_WORDS and not trigger.is_pull_request:
            asked = as_task(asked, command_word)  # as the event parser reads it on an issue
    if asked is not None and asked.kind == "task" and (trigger.source == "label" or not asked.text):
        issue = forge.issue(trigger.number)  # the issue is the task: the label, or `/codex` alone
        if trigger.source == "label":
            asked = replace(asked, text=issue_task(issue.title, issue.body))
        else:
            noun = "merge request" if trigger.forge == "gitlab" else "pull request"
            asked = bare_command(asked, issue.title, issue.body, trigger.is_pull_request, command_word, noun)
    if asked != trigger.command:
        raise RunFailed("what the forge shows asked for this run is not what the webhook said (the comment or "
                        "issue was edited, or the webhook was not the forge's); nothing was run: ask again")


def _confirm_label(forge: Forge, trigger: Trigger, label: str) -> None:
    """Whoever last added the label (took it off, for a cancel) by the forge's events is who the webhook named."""
    removed = trigger.command.kind == "cancel"
    verb = "removing" if removed else "adding"
    actor = forge.labeled_by(trigger.number, label, removed=removed)
    if actor is None:
        raise RunFailed(f"the forge shows no one {verb} the {label!r} label on #{trigger.number}, so nothing "
                        f"was run: {'remove' if removed else 'add'} the label again")
    if actor.lower() != trigger.author.lower():
        raise RunFailed(f"the {label!r} label was last {'removed' if removed else 'added'} by @{actor}, not by "
                        f"@{trigger.author} as the webhook said; nothing was run")


def check_delegation_token(services: Services, trigger: Trigger) -> None:
    """A delegated run runs only while the API token that asked for it is still valid."""
    if ApiTokens(services.redis, services.settings.secret_key).load(trigger.delegation.token_id) is None:
        raise RunFailed("the API token that delegated this run was revoked; nothing was run")
