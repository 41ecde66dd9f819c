"""GitLab webhook payload → Trigger, or the reason it is not one (pure: a dict in, a value out)."""

from __future__ import annotations

import re
from typing import Any

from jobs.intake.commands import PULL_WORDS, as_task, bare_command, issue_task, parse_command
from bot.events.gitlab_pulls import from_merge_request, from_pipeline
from bot.events.fields import Ignored, PayloadError, Rules, build_trigger, get_field as _get, opt_field as _opt
from jobs.types import Command, Trigger

_BOT_USERNAME = re.compile(r"^(project|group)_\d+_bot(_[0-9a-f]+)?$")  # GitLab's access-token users
_OPEN = "opened"
# The events parse_gitlab_event acts on; the webhook answers any other by its header, before reading the body.
HANDLED_EVENTS = frozenset({"Note Hook", "Issue Hook", "Merge Request Hook", "Pipeline Hook"})


def parse_gitlab_event(event: str, payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    """Decide whether one GitLab delivery asks for a task. Raises PayloadError on a malformed payload."""
    if event == "Note Hook":
        return _from_note(payload, rules)
    if event == "Issue Hook":
        return _from_issue(payload, rules)
    if event == "Merge Request Hook":
        return from_merge_request(payload, rules, _is_bot, _trigger)
    if event == "Pipeline Hook":
        return from_pipeline(payload, _trigger)
    return Ignored(f"{event or 'an unnamed event'} is not acted on")


def _from_note(payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    attrs = _attributes(payload)
    user = _get(payload, "user", dict)
    action = _opt(attrs, "action", str, "object_attributes") or "create"  # older GitLab sends no action
    if action != "create":
        return Ignored(f"note {action}: only new notes start tasks")
    kind = _opt(attrs, "noteable_type", str, "object_attributes")
    if kind not in ("Issue", "MergeRequest"):
        return Ignored(f"note on a {kind or 'thing'}: only notes on issues and merge requests start tasks")
    if _is_bot(user, rules):
        return Ignored("note by a bot")
    target = _get(payload, "issue" if kind == "Issue" else "merge_request", dict)
    if target.get("state") != _OPEN:
        return Ignored(f"note on a {target.get('state') or 'closed'} {'issue' if kind == 'Issue' else 'merge request'}")
    command = parse_command(_opt(attrs, "note", str, "object_attributes"), rules.command)
    if command is None:
        return Ignored(f"no {rules.command} command in the note")
    is_mr = kind == "MergeRequest"
    if command.kind in PULL_WORDS and not is_mr:
        command = as_task(command, rules.command)
    if command.kind == "task" and not command.text:
        command = bare_command(command, _opt(target, "title", str, "issue") or "",
                               _opt(target, "description", str, "issue") or "", is_mr, rules.command, "merge request")
    return _trigger(payload, "note", "comment", target, user, command, is_mr,
                    comment_id=_get(attrs, "id", int, "object_attributes"), url=_opt(attrs, "url", str, "object_attributes") or "")


def _from_issue(payload: dict[str, Any], rules: Rules) -> Trigger | Ignored:
    attrs = _attributes(payload)
    user = _get(payload, "user", dict)
    if _label_added(payload, rules.label, removed=True) and not _is_bot(user, rules):
        return _trigger(payload, "issue", "label", attrs, user, Command(kind="cancel"), False, comment_id=None,
                        url=_opt(attrs, "url", str, "object_attributes") or "")
    if not _label_added(payload, rules.label):
        return Ignored(f"the {rules.label!r} label was not added")
    if _is_bot(user, rules):
        return Ignored("label added by a bot")
    if attrs.get("state") != _OPEN:
        return Ignored("label on a closed issue")
    if attrs.get("confidential") is True:
        return Ignored("confidential issue: codexbot does not act on confidential issues")
    command = Command(kind="task", text=_text(attrs))
    return _trigger(payload, "issue", "label", attrs, user, command, False, comment_id=None,
                    url=_opt(attrs, "url", str, "object_attributes") or "")


def _label_added(payload: dict[str, Any], label: str, removed: bool = False) -> bool:
    """A label is added when it is in changes.labels.current and not in previous (removed: the other way)."""
    changes = payload.get("changes")
    labels = changes.get("labels") if isinstance(changes, dict) else None
    if not isinstance(labels, dict):
        return False
    before = {_title(item) for item in labels.get("previous") or []}
    after = {_title(item) for item in labels.get("current") or []}
    wanted = label.casefold()
    if removed:
        return wanted in before and wanted not in after
    return wanted in after and wanted not in before


def _title(item: Any) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("title"), str):
        raise PayloadError("changes.labels holds a label without a title")
    return item["title"].casefold()


def _trigger(payload, event, source, target, user, command, is_mr, *, comment_id, url) -> Trigger:
    project = _get(payload, "project", dict)
    project_id = project.get("id", payload.get("project_id"))
    if not isinstance(project_id, int) or isinstance(project_id, bool):
        raise PayloadError("project.id is missing or not an int")
    return build_trigger(
        forge="gitlab", event=event, source=source,
        repo=_get(project, "path_with_namespace", str, "project"), repo_id=project_id,
        number=_get(target, "iid", int, "merge_request" if is_mr else "issue"),
        is_pull_request=is_mr, title=_opt(target, "title", str, "issue") or "",
        author=_get(user, "username", str, "user"), installation_id=None,
        command=command, comment_id=comment_id, url=url,
    )


def _attributes(payload: dict[str, Any]) -> dict[str, Any]:
    return _get(payload, "object_attributes", dict)


def _text(target: dict[str, Any]) -> str:
    return issue_task(_opt(target, "title", str, "issue") or "", _opt(target, "description", str, "issue") or "")


def _is_bot(user: dict[str, Any], rules: Rules) -> bool:
    name = str(user.get("username", ""))
    return bool(_BOT_USERNAME.match(name)) or user.get("bot") is True or name.casefold() in rules.bot_logins
