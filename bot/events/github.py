"""GitHub webhook payload → Trigger, or the reason it is not one (pure: a dict in, a value out)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jobs.intake.commands import PULL_WORDS, as_task, bare_command, issue_task, parse_command
from bot.events.github_pulls import from_check, from_pull_request
from bot.events.fields import Ignored, Rules, build_trigger, get_field as _get, opt_field as _opt
from jobs.types import Command, Trigger


# The events parse_github_event acts on; the webhook answers any other before reading its body.
HANDLED_EVENTS = frozenset({"ping", "issue_comment", "issues", "pull_request_review", "pull_request_review_comment",
                            "pull_request", "check_suite", "check_run"})


def parse_github_event(event: str, payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    """Decide whether one delivery asks for a task. Raises PayloadError on a malformed payload."""
    action = payload.get("action")
    if event == "ping":
        return Ignored("ping: the webhook is set up")
    if event == "issue_comment" and action == "created":
        return _from_comment(payload, rules)
    if event == "issue_comment":
        return Ignored(f"comment {action}: only new comments start tasks")
    if event == "issues" and action == "labeled":
        return _from_label(payload, rules)
    if event == "issues" and action == "unlabeled":
        return _from_unlabel(payload, rules)
    if event == "pull_request_review" and action == "submitted":
        return _from_review(payload, rules)
    if event == "pull_request_review_comment" and action == "created":
        return _from_review_comment(payload, rules)
    if event == "pull_request":
        return from_pull_request(payload, rules, _is_bot)
    if event in ("check_suite", "check_run"):
        return from_check(event, payload, rules)
    return Ignored(f"{event}{'.' + action if isinstance(action, str) else ''} is not acted on")


def _from_comment(payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    comment = _get(payload, "comment", dict)
    issue = _get(payload, "issue", dict)
    sender = _get(payload, "sender", dict)
    if _is_bot(sender, rules) or _is_bot(_get(comment, "user", dict, "comment"), rules):
        return Ignored("comment by a bot")
    if issue.get("state") != "open":
        return Ignored("comment on a closed issue or pull request")
    command = parse_command(_opt(comment, "body", str, "comment"), rules.command)
    if command is None:
        return Ignored(f"no {rules.command} command in the comment")
    is_pr = issue.get("pull_request") is not None
    if command.kind in PULL_WORDS and not is_pr:
        command = as_task(command, rules.command)
    if command.kind == "task" and not command.text:
        command = bare_command(command, _opt(issue, "title", str, "issue") or "", _opt(issue, "body", str, "issue") or "",
                               is_pr, rules.command)
    return _trigger(payload, "issue_comment", "comment", issue, sender, command,
                    comment_id=_get(comment, "id", int, "comment"), url=_opt(comment, "html_url", str, "comment") or "")


def _from_label(payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    label = _get(payload, "label", dict)
    issue = _get(payload, "issue", dict)
    sender = _get(payload, "sender", dict)
    if str(label.get("name", "")).casefold() != rules.label.casefold():
        return Ignored(f"label {label.get('name')!r} is not {rules.label!r}")
    if _is_bot(sender, rules):
        return Ignored("label added by a bot")
    if issue.get("state") != "open":
        return Ignored("label on a closed issue")
    command = Command(kind="task", text=_issue_text(issue))
    return _trigger(payload, "issues", "label", issue, sender, command, comment_id=None,
                    url=_opt(issue, "html_url", str, "issue") or "")


def _from_unlabel(payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    """Taking the codex label off an issue cancels its queued or running run."""
    label, issue, sender = _get(payload, "label", dict), _get(payload, "issue", dict), _get(payload, "sender", dict)
    if str(label.get("name", "")).casefold() != rules.label.casefold() or _is_bot(sender, rules):
        return Ignored(f"label {label.get('name')!r} removed")
    return _trigger(payload, "issues", "label", issue, sender, Command(kind="cancel"), comment_id=None,
                    url=_opt(issue, "html_url", str, "issue") or "")


def _from_review(payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    """A review of the bot's own pull request: changes requested, or a comment review with a command."""
    review, pull, sender = _get(payload, "review", dict), _get(payload, "pull_request", dict), _get(payload, "sender", dict)
    if _is_bot(sender, rules):
        return Ignored("review by a bot")
    if pull.get("state") != "open" or not _is_own_pull(pull, rules):
        return Ignored("reviews start follow-ups only on codexbot's own open pull requests")
    state = str(review.get("state", "")).lower()
    body = _opt(review, "body", str, "review") or ""
    command = parse_command(body, rules.command)
    if state == "changes_requested" and command is None:
        command = Command(kind="task", text=body.strip() or "Address the review comments.")
    if command is None:
        return Ignored(f"review {state or 'submitted'} without a {rules.command} command")
    return replace(_trigger(payload, "pull_request_review", "review", _pull_as_issue(pull), sender, command,
                            comment_id=None, url=_opt(review, "html_url", str, "review") or ""),
                   review_id=_get(review, "id", int, "review"))


def _from_review_comment(payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    """`/codex …` written on a line of a pull request."""
    comment, pull, sender = _get(payload, "comment", dict), _get(payload, "pull_request", dict), _get(payload, "sender", dict)
    if _is_bot(sender, rules):
        return Ignored("review comment by a bot")
    if pull.get("state") != "open":
        return Ignored("review comment on a closed pull request")
    command = parse_command(_opt(comment, "body", str, "comment"), rules.command)
    if command is None:
        return Ignored("review comments without a command wait for the review to be submitted")
    if command.kind == "task" and not command.text:
        command = Command(kind="task", text="Address this comment.", notes=command.notes)
    return replace(_trigger(payload, "pull_request_review_comment", "review", _pull_as_issue(pull), sender, command,
                            comment_id=None, url=_opt(comment, "html_url", str, "comment") or ""),
                   review_comment_id=_get(comment, "id", int, "comment"))


def _pull_as_issue(pull: dict[str, Any]) -> dict[str, Any]:
    return {**pull, "pull_request": {"url": pull.get("url")}}


def _is_own_pull(pull: dict[str, Any], rules: Rules) -> bool:
    """Opened by codexbot: its configured login, else a bot account on a codex/ branch."""
    author = _get(pull, "user", dict, "pull_request")
    login = str(author.get("login", "")).casefold()
    if rules.bot_logins:
        return login in rules.bot_logins
    head = pull.get("head") if isinstance(pull.get("head"), dict) else {}
    return author.get("type") == "Bot" and str(head.get("ref", "")).startswith("codex/")


def _trigger(payload, event, source, issue, sender, command, *, comment_id, url) -> Trigger:
    repo = _get(payload, "repository", dict)
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    return build_trigger(
        forge="github",
        event=event,
        source=source,
        repo=_get(repo, "full_name", str, "repository"),
        repo_id=_get(repo, "id", int, "repository"),
        number=_get(issue, "number", int, "issue"),
        is_pull_request=issue.get("pull_request") is not None,
        title=_opt(issue, "title", str, "issue") or "",
        author=_get(sender, "login", str, "sender"),
        installation_id=installation_id if isinstance(installation_id, int) else None,
        command=command,
        comment_id=comment_id,
        url=url,
    )


def _issue_text(issue: dict[str, Any]) -> str:
    return issue_task(_opt(issue, "title", str, "issue") or "", _opt(issue, "body", str, "issue") or "")


def _is_bot(user: dict[str, Any], rules: Rules) -> bool:
    login = str(user.get("login", ""))
    return user.get("type") == "Bot" or login.endswith("[bot]") or login.casefold() in rules.bot_logins
