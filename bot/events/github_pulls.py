"""GitHub events about pull requests themselves (pure): one opened or marked ready asks for an automatic review,
and a finished check suite or check run on codexbot's own pull request asks for a CI repair. Each is a claim:
the worker reads the pull request, its checks and the repository's `.codexbot.toml` through the API."""

from __future__ import annotations

from typing import Any

from bot.events.fields import Ignored, Rules, build_trigger, get_field as _get, opt_field as _opt
from jobs.types import Command, Trigger

REVIEWED_ACTIONS = ("opened", "ready_for_review", "reopened")
CI_CONCLUSIONS = ("failure", "timed_out", "startup_failure", "success")  # success: say that the repair worked
OWN_BRANCH = "codex/"


def from_pull_request(payload: dict[str, Any], rules: Rules, is_bot) -> Trigger | Ignored:
    """A pull request a person opened (or marked ready): an automatic review, if the repository asks for it."""
    action = payload.get("action")
    if action not in REVIEWED_ACTIONS:
        return Ignored(f"pull_request.{action}: only opened or ready pull requests are reviewed automatically")
    pull = _get(payload, "pull_request", dict)
    author = _get(pull, "user", dict, "pull_request")
    if pull.get("draft") is True:
        return Ignored("a draft pull request is reviewed when it is marked ready")
    if pull.get("state") != "open":
        return Ignored("the pull request is not open")
    if is_bot(author, rules) or is_bot(_get(payload, "sender", dict), rules):
        return Ignored("pull request by a bot: automatic reviews are for people's pull requests")
    return _trigger(payload, "pull_request", pull, author, Command(kind="review"))


def from_check(event: str, payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    """A check suite or check run that finished on codexbot's own pull request (a `codex/` branch)."""
    if payload.get("action") != "completed":
        return Ignored(f"{event}.{payload.get('action')}: only completed checks are acted on")
    check = _get(payload, event, dict)
    app = check.get("app") if isinstance(check.get("app"), dict) else {}
    if f"{app.get('slug', '')}[bot]".casefold() in rules.bot_logins:
        return Ignored("a check codexbot created itself")
    conclusion = _opt(check, "conclusion", str, event)
    if conclusion not in CI_CONCLUSIONS or (event == "check_run" and conclusion == "success"):
        return Ignored(f"{event} concluded {conclusion}: nothing to repair")
    suite = check if event == "check_suite" else _get(check, "check_suite", dict, event)
    pulls = [p for p in suite.get("pull_requests") or [] if isinstance(p, dict)]
    own = [p for p in pulls if str((p.get("head") or {}).get("ref", "")).startswith(OWN_BRANCH)]
    if not own:
        return Ignored(f"{event} on no codexbot pull request")
    pull = own[0]
    sender = _get(payload, "sender", dict)
    return _trigger(payload, event, {**pull, "title": ""}, sender, Command(kind="fix-ci"))


def _trigger(payload, event, pull, author, command) -> Trigger:
    repo = _get(payload, "repository", dict)
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    return build_trigger(
        forge="github", event=event, source="event",
        repo=_get(repo, "full_name", str, "repository"), repo_id=_get(repo, "id", int, "repository"),
        number=_get(pull, "number", int, "pull_request"), is_pull_request=True,
        title=_opt(pull, "title", str, "pull_request") or "", author=_get(author, "login", str, "user"),
        installation_id=installation_id if isinstance(installation_id, int) else None,
        command=command, comment_id=None, url=_opt(pull, "html_url", str, "pull_request") or "",
    )
