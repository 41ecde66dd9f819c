"""Merge request reviews in the GitLab emulator: refs/merge-requests/<iid>/head (forks too), diff_refs, discussions
on diff positions (refused with 400 off the diff, as GitLab does), resolving them, and the Merge Request Hook."""

from __future__ import annotations

import hashlib
import re
import secrets

from werkzeug.wrappers import Response

from . import github_git as git
from .gitlab_http import Ctx, json_response
from .gitlab_state import DEVELOPER, REPORTER, ApiError, not_found

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
LINE_CODE = "400 Bad request - Note {:line_code=>[\"can't be blank\", \"must be a valid line code\"]}"


def head_ref(mr: dict) -> str:
    return f"refs/merge-requests/{mr['iid']}/head"


def sync_merge_request_refs(emu, project: dict) -> None:
    """refs/merge-requests/<iid>/head of every merge request, as GitLab keeps them in the target project (a fork's
    commits are copied in)."""
    for mr in list(project["merge_requests"].values()):
        source = mr.get("source_project") or project
        sha = git.branch_head(source["git_dir"], mr["source_branch"])
        if sha:
            if source is not project:
                git.run_git(project["git_dir"], "fetch", "--quiet", "--no-tags", source["git_dir"], sha)
            git.run_git(project["git_dir"], "update-ref", head_ref(mr), sha)


def diff_refs(emu, project: dict, mr: dict) -> dict:
    """The shas of the merge request's latest diff version: base (merge base), start (target's head), head."""
    sync_merge_request_refs(emu, project)
    head = _rev(project, head_ref(mr))
    start = git.branch_head(project["git_dir"], mr["target_branch"])
    base = git.run_git(project["git_dir"], "merge-base", start, head, check=False).stdout.decode().strip()
    return {"base_sha": base or start, "start_sha": start, "head_sha": head}


def mr_details(emu, project: dict, mr: dict) -> dict:
    """What GET of one merge request adds to the list's shape: diff_refs and the head pipeline."""
    refs = diff_refs(emu, project, mr)
    pipeline = emu.ci.head_pipeline(project, mr, refs["head_sha"])
    return {"diff_refs": refs, "head_pipeline": emu.ci.pipeline_shape(pipeline) if pipeline else None,
            "allow_collaboration": False}


def line_map(diff: str) -> tuple[dict[int, int | None], set[int]]:
    """New line → old line (None: added) of the lines a position may name on the new side, and removed old lines."""
    lines: dict[int, int | None] = {}
    removed: set[int] = set()
    old = new = old_left = new_left = 0
    for text in diff.split("\n"):
        if old_left > 0 or new_left > 0:
            if text.startswith("+"):
                lines[new], new, new_left = None, new + 1, new_left - 1
            elif text.startswith("-"):
                removed.add(old)
                old, old_left = old + 1, old_left - 1
            elif text.startswith(" ") or text == "":
                lines[new] = old
                old, new, old_left, new_left = old + 1, new + 1, old_left - 1, new_left - 1
        elif (hunk := _HUNK.match(text)):
            old, new = int(hunk.group(1)), int(hunk.group(3))
            old_left, new_left = int(hunk.group(2) or 1), int(hunk.group(4) or 1)
    return lines, removed


def check_position(emu, project: dict, mr: dict, position: dict) -> dict:
    """The position as GitLab stores it, or 400 when it names no line of the merge request's latest diff: an added
    line takes new_line, a removed one old_line, an unchanged one both (the emulator keeps only the latest version)."""
    if position.get("position_type") != "text":
        raise ApiError(400, "400 Bad request - position[position_type] does not have a valid value")
    refs = diff_refs(emu, project, mr)
    if any(not position.get(k) for k in refs) or position.get("new_path") in (None, ""):
        raise ApiError(400, "400 Bad request - Note {:position=>[\"is incomplete\"]}")
    if position["head_sha"] != refs["head_sha"] or position["base_sha"] != refs["base_sha"]:
        raise ApiError(400, LINE_CODE)
    path = position["new_path"]
    diff = git.run_git(project["git_dir"], "diff", "--no-renames", "-U3", refs["base_sha"], refs["head_sha"], "--",
                       path).stdout.decode("utf-8", "replace")
    lines, removed = line_map(diff)
    new, old = _int(position.get("new_line")), _int(position.get("old_line"))
    fits = (new in lines and lines[new] == old) if new is not None else (old is not None and old in removed)
    if not fits or position.get("old_path", path) != path:
        raise ApiError(400, LINE_CODE)
    return {**{k: position.get(k) for k in ("base_sha", "start_sha", "head_sha", "position_type")},
            "old_path": path, "new_path": path, "old_line": old, "new_line": new, "line_range": None}


def _int(value) -> int | None:
    return int(value) if value not in (None, "") else None


def _rev(project: dict, ref: str) -> str:
    found = git.run_git(project["git_dir"], "rev-parse", "--verify", "--quiet", ref, check=False)
    if found.returncode != 0:
        raise not_found("Commit")
    return found.stdout.decode().strip()


def discussion_shape(ctx_or_emu, project: dict, discussion_id: str, notes: list[dict]) -> dict:
    shapes = ctx_or_emu.shapes
    return {"id": discussion_id, "individual_note": not notes[0].get("discussion_id"),
            "notes": [shapes.note(project, n) for n in notes]}


def discussions_of(state, mr: dict) -> list[tuple[str, list[dict]]]:
    """Each note is a discussion of its own, unless it was posted into one (a thread)."""
    found: dict[str, list[dict]] = {}
    for note in state.notes_of(mr):
        key = note.get("discussion_id") or hashlib.sha1(f"note-{note['id']}".encode()).hexdigest()
        found.setdefault(key, []).append(note)
    return list(found.items())


def _merge_request(ctx: Ctx, project: str, iid: str, write: bool = False) -> tuple[dict, dict]:
    record = ctx.project(project, REPORTER, write)
    return record, ctx.state.noteable(record, "merge_requests", int(iid))


def list_discussions(ctx: Ctx, project: str, iid: str) -> Response:
    record, mr = _merge_request(ctx, project, iid)
    return ctx.page([discussion_shape(ctx, record, key, notes) for key, notes in discussions_of(ctx.state, mr)])


def get_discussion(ctx: Ctx, project: str, iid: str, discussion_id: str) -> Response:
    record, mr = _merge_request(ctx, project, iid)
    return json_response(discussion_shape(ctx, record, discussion_id, _thread(ctx, mr, discussion_id)))


def _thread(ctx: Ctx, mr: dict, discussion_id: str) -> list[dict]:
    found = dict(discussions_of(ctx.state, mr)).get(discussion_id)
    if not found:
        raise not_found("Discussion")
    return found


def create_discussion(ctx: Ctx, project: str, iid: str) -> Response:
    """A thread on the merge request; with a position, a DiffNote on that line of the diff."""
    record, mr = _merge_request(ctx, project, iid, write=True)
    body = ctx.body()
    (text,) = ctx.required(body, "body")
    position = body.get("position")
    if position is not None and not isinstance(position, dict):
        raise ApiError(400, "400 Bad request - position is invalid")
    stored = check_position(ctx.emu, record, mr, position) if position else None
    note = ctx.state.add_note(mr, "merge_requests", str(text), ctx.caller.user)
    with ctx.state.lock:
        note.update({"discussion_id": secrets.token_hex(20), "type": "DiffNote" if stored else "DiscussionNote",
                     "position": stored, "resolvable": True, "resolved": False, "resolved_by": None})
    return json_response(discussion_shape(ctx, record, note["discussion_id"], [note]), 201)


def update_discussion(ctx: Ctx, project: str, iid: str, discussion_id: str) -> Response:
    """PUT with resolved=true|false resolves or reopens the thread (Developer or higher, or the MR's author)."""
    record, mr = _merge_request(ctx, project, iid, write=True)
    user = ctx.caller.user
    if ctx.state.access_level(record, user) < DEVELOPER and mr["author"]["id"] != user["id"]:
        raise ApiError(403, "403 Forbidden")
    value = {**ctx.request.args.to_dict(), **ctx.body()}.get("resolved")
    if value is None:
        raise ApiError(400, "400 Bad request - resolved is missing")
    resolve_thread(ctx.state, _thread(ctx, mr, discussion_id), str(value).lower() in ("true", "1"), user)
    return json_response(discussion_shape(ctx, record, discussion_id, _thread(ctx, mr, discussion_id)))


def resolve_thread(state, notes: list[dict], resolved: bool, user: dict) -> None:
    with state.lock:
        for note in notes:
            if note.get("resolvable"):
                note.update({"resolved": resolved, "resolved_by": user if resolved else None})


def merge_request_hook(emu, username: str, project: str, iid: int, action: str, changes: dict | None = None):
    """Deliver the Merge Request Hook GitLab sends when username opens ("open"), reopens or updates the MR."""
    record, user = emu.state.project(project), emu.state.add_user(username)
    mr = emu.state.noteable(record, "merge_requests", iid)
    attributes = {**emu.shapes.hook_merge_request(record, mr), "action": action}
    payload = {"object_kind": "merge_request", "event_type": "merge_request", **emu._hook_context(record, user),
               "object_attributes": attributes, "labels": attributes["labels"], "changes": changes or {}}
    return emu.webhooks.send("Merge Request Hook", payload)


_D = r"/projects/(?P<project>[^/]+)/merge_requests/(?P<iid>\d+)/discussions"
ROUTES = [
    ("GET", _D, list_discussions), ("POST", _D, create_discussion),
    ("GET", _D + r"/(?P<discussion_id>[0-9a-f]+)", get_discussion),
    ("PUT", _D + r"/(?P<discussion_id>[0-9a-f]+)", update_discussion),
]
COMPILED = [(method, re.compile(f"^{pattern}/?$"), handler) for method, pattern, handler in ROUTES]
