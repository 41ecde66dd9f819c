"""GitLab events about merge requests themselves (pure): one opened, reopened or taken out of draft by a person asks
for an automatic review, and a finished pipeline of codexbot's own merge request asks for a CI repair. Each is a
claim: the worker reads the merge request, its pipeline and the project's `.codexbot.toml` through the API."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from bot.events.fields import Ignored, Rules, get_field as _get, opt_field as _opt
from jobs.types import Command, Trigger

REVIEWED_ACTIONS = ("open", "reopen", "update")  # an update only when it takes the merge request out of draft
CI_STATUSES = ("failed", "success")  # success: say that the repair worked
OWN_BRANCH = "codex/"
_DRAFT_PREFIXES = ("draft:", "[draft]", "(draft)", "wip:", "[wip]")

MakeTrigger = Callable[..., Trigger]


def from_merge_request(payload: dict[str, Any], rules: Rules, is_bot, make_trigger: MakeTrigger) -> Trigger | Ignored:
    """A merge request a person opened, reopened or marked ready: an automatic review, if the project asks."""
    attrs = _get(payload, "object_attributes", dict)
    action = _opt(attrs, "action", str, "object_attributes") or "update"
    if action not in REVIEWED_ACTIONS or (action == "update" and not _marked_ready(payload)):
        return Ignored(f"merge request {action}: only opened or ready merge requests are reviewed automatically")
    if attrs.get("draft") is True or attrs.get("work_in_progress") is True:
        return Ignored("a draft merge request is reviewed when it is marked ready")
    if attrs.get("state") != "opened":
        return Ignored("the merge request is not open")
    user = _get(payload, "user", dict)
    if is_bot(user, rules):
        return Ignored("merge request by a bot: automatic reviews are for people's merge requests")
    return make_trigger(payload, "merge_request", "event", attrs, user, Command(kind="review"), True, comment_id=None,
                        url=_opt(attrs, "url", str, "object_attributes") or "")


@dataclass(frozen=True)
class BranchPipeline(Ignored):
    """A finished pipeline of a `codex/` branch that names no merge request (GitLab's branch pipelines, the
    default kind): ignored as it stands. The webhook looks up the merge request codexbot opened from `branch`
    (jobs/records/branch_pulls.py) and asks for the repair with `for_merge_request`."""

    branch: str = ""
    trigger: Trigger | None = field(default=None, repr=False)  # the repair's trigger, but for its number

    def for_merge_request(self, number: int) -> Trigger:
        assert self.trigger is not None
        return replace(self.trigger, number=number)


def from_pipeline(payload: dict[str, Any], make_trigger: MakeTrigger) -> Trigger | Ignored:
    """A finished pipeline of codexbot's own merge request (a `codex/` branch), or of one of its branches."""
    if payload.get("object_kind") != "pipeline":
        return Ignored("not a pipeline event")
    attrs = _get(payload, "object_attributes", dict)
    status = _opt(attrs, "status", str, "object_attributes")
    if status not in CI_STATUSES:
        return Ignored(f"pipeline {status}: nothing to repair")
    mr = payload.get("merge_request")
    branch_only = not isinstance(mr, dict)
    if branch_only:
        ref = _opt(attrs, "ref", str, "object_attributes") or ""
        if not ref.startswith(OWN_BRANCH) or attrs.get("tag") is True:
            return Ignored("a pipeline of no merge request (a branch pipeline)")
        mr = {"iid": 1, "title": "", "source_branch": ref}  # the number comes from what codexbot recorded
    elif not str(mr.get("source_branch", "")).startswith(OWN_BRANCH) or mr.get("state") not in (None, "opened"):
        return Ignored("a pipeline of no open codexbot merge request")
    elif mr.get("source_project_id") != mr.get("target_project_id"):
        return Ignored("a pipeline of a merge request from a fork")
    builds = payload.get("builds")
    if status == "failed" and isinstance(builds, list) and builds and not any(
            isinstance(b, dict) and b.get("status") == "failed" and not b.get("allow_failure") for b in builds):
        return Ignored("the pipeline failed with no failing job (a commit status failed, perhaps codexbot's own)")
    target = {**mr, "title": _opt(mr, "title", str, "merge_request") or ""}
    trigger = make_trigger(payload, "pipeline", "event", target, _get(payload, "user", dict), Command(kind="fix-ci"),
                           True, comment_id=None, url=_opt(attrs, "url", str, "object_attributes") or "")
    if branch_only:
        return BranchPipeline(f"a pipeline of {mr['source_branch']}, which names no merge request (a branch "
                              "pipeline)", mr["source_branch"], trigger)
    return trigger


def _marked_ready(payload: dict[str, Any]) -> bool:
    """An update whose changes take the draft off: the draft flag, or a "Draft:" prefix dropped from the title."""
    changes = payload.get("changes")
    if not isinstance(changes, dict):
        return False
    for key in ("draft", "work_in_progress"):
        change = changes.get(key)
        if isinstance(change, dict) and change.get("previous") is True and change.get("current") is False:
            return True
    title = changes.get("title")
    if isinstance(title, dict) and isinstance(title.get("previous"), str) and isinstance(title.get("current"), str):
        return _is_draft(title["previous"]) and not _is_draft(title["current"])
    return False


def _is_draft(title: str) -> bool:
    return title.strip().lower().startswith(_DRAFT_PREFIXES)
