"""The REST v4 subset of the GitLab emulator that python-gitlab needs, as (method, pattern, handler)."""

from __future__ import annotations

import base64
import hashlib
import re

from werkzeug.wrappers import Response

from . import github_git as git
from .gitlab_http import API_READ_SCOPES, Ctx, json_response
from .gitlab_reviews import head_ref, mr_details, sync_merge_request_refs
from .gitlab_state import DEVELOPER, GUEST, REPORTER, STATUS_EVENTS, ApiError, not_found

EMOJI = ("thumbsup", "thumbsdown", "eyes", "rocket", "confused", "tada", "heart", "smile",
         "laughing", "hourglass", "white_check_mark", "x")
MR_STATES = ("opened", "closed", "merged", "locked")


def current_user(ctx: Ctx) -> Response:
    ctx.caller.require_scope(*API_READ_SCOPES, "read_user")
    return json_response(ctx.shapes.current_user(ctx.caller.user))


def list_users(ctx: Ctx) -> Response:
    ctx.caller.require_scope(*API_READ_SCOPES, "read_user")
    wanted = ctx.request.args.get("username")
    with ctx.state.lock:
        users = [u for u in ctx.state.users.values() if wanted is None or u["username"].lower() == wanted.lower()]
    return ctx.page([ctx.shapes.user(u) for u in users])


def token_self(ctx: Ctx) -> Response:
    """Any valid token may read itself: `codexbot check` uses this to name the missing scopes."""
    if ctx.caller.token is None:
        raise ApiError(401, "401 Unauthorized")
    return json_response(ctx.shapes.token(ctx.caller.token))


def version(ctx: Ctx) -> Response:
    ctx.caller.require_scope(*API_READ_SCOPES, "read_user")
    return json_response({"version": "17.5.0-emulator", "revision": "0000000"})


def get_project(ctx: Ctx, project: str) -> Response:
    return json_response(ctx.shapes.project(ctx.project(project, GUEST)))


def get_member(ctx: Ctx, project: str, user_id: str) -> Response:
    record = ctx.project(project, GUEST)
    user = ctx.state.user_by_id(int(user_id))
    level = ctx.state.access_level(record, user) if user else 0
    if not level:
        raise ApiError(404, "404 Not found")
    return json_response(ctx.shapes.member(user, level))


def _read_level(kind: str) -> int:
    return GUEST if kind == "issues" else REPORTER  # guests see issues, not code or merge requests


def _noteable(ctx: Ctx, project: str, kind: str, iid: str, write: bool = False) -> tuple[dict, dict]:
    record = ctx.project(project, _read_level(kind), write)
    return record, ctx.state.noteable(record, kind, int(iid))


def _render(ctx: Ctx, project: dict, kind: str, record: dict) -> dict:
    shape = ctx.shapes.issue if kind == "issues" else ctx.shapes.merge_request
    return shape(project, record)


def get_noteable(ctx: Ctx, project: str, kind: str, iid: str) -> Response:
    record, found = _noteable(ctx, project, kind, iid)
    details = mr_details(ctx.emu, record, found) if kind == "merge_requests" else {}
    return json_response({**_render(ctx, record, kind, found), **details})


def list_notes(ctx: Ctx, project: str, kind: str, iid: str) -> Response:
    record, found = _noteable(ctx, project, kind, iid)
    notes = ctx.state.notes_of(found)
    order = ctx.request.args.get("order_by", "created_at")
    notes.sort(key=lambda n: (n[order if order == "updated_at" else "created_at"], n["id"]),
               reverse=ctx.request.args.get("sort", "desc") != "asc")  # GitLab's default is newest first
    return ctx.page([ctx.shapes.note(record, n) for n in notes])


def create_note(ctx: Ctx, project: str, kind: str, iid: str) -> Response:
    record, found = _noteable(ctx, project, kind, iid, write=True)
    (body,) = ctx.required(ctx.body(), "body")
    note = ctx.state.add_note(found, kind, str(body), ctx.caller.user)
    return json_response(ctx.shapes.note(record, note), 201)


def get_note(ctx: Ctx, project: str, kind: str, iid: str, note_id: str) -> Response:
    record, found = _noteable(ctx, project, kind, iid)
    return json_response(ctx.shapes.note(record, ctx.state.note(found, int(note_id))))


def update_note(ctx: Ctx, project: str, kind: str, iid: str, note_id: str) -> Response:
    record, found = _noteable(ctx, project, kind, iid, write=True)
    note = ctx.state.note(found, int(note_id))
    if note["author"]["id"] != ctx.caller.user["id"]:
        raise ApiError(403, "403 Forbidden")  # only the author may edit a note
    (body,) = ctx.required(ctx.body(), "body")
    return json_response(ctx.shapes.note(record, ctx.state.update(note, {"body": str(body)})))


def update_issue(ctx: Ctx, project: str, iid: str) -> Response:
    """PUT …/issues/:iid with add_labels or remove_labels (comma-separated): each change records a resource
    label event."""
    record, issue = _noteable(ctx, project, "issues", iid, write=True)
    if ctx.state.access_level(record, ctx.caller.user) < REPORTER:
        raise ApiError(403, "403 Forbidden")
    body = ctx.body()
    adds, removes = ([t.strip() for t in str(body.get(key) or "").split(",") if t.strip()]
                     for key in ("add_labels", "remove_labels"))
    if not adds and not removes:
        raise ApiError(400, "400 Bad request - at least one parameter must be provided")
    for title in adds:
        ctx.state.add_label(record, issue, title, ctx.caller.user)
    for title in removes:
        ctx.state.remove_label(record, issue, title, ctx.caller.user)
    return json_response(ctx.shapes.issue(record, issue))


def list_label_events(ctx: Ctx, project: str, kind: str, iid: str) -> Response:
    """GET …/resource_label_events, oldest first, as GitLab lists them."""
    _, found = _noteable(ctx, project, kind, iid)
    with ctx.state.lock:
        events = list(found["label_events"])
    return ctx.page([ctx.shapes.label_event(found, kind, e) for e in events])


def _award_target(ctx: Ctx, project, kind, iid, note_id, write=False) -> tuple[dict, str]:
    record, found = _noteable(ctx, project, kind, iid, write)
    if note_id is not None:
        return ctx.state.note(found, int(note_id)), "Note"
    return found, "Issue" if kind == "issues" else "MergeRequest"


def list_awards(ctx: Ctx, project: str, kind: str, iid: str, note_id: str | None = None) -> Response:
    target, awardable_type = _award_target(ctx, project, kind, iid, note_id)
    return ctx.page([ctx.shapes.award(a, target, awardable_type) for a in target["awards"]])


def create_award(ctx: Ctx, project: str, kind: str, iid: str, note_id: str | None = None) -> Response:
    target, awardable_type = _award_target(ctx, project, kind, iid, note_id, write=True)
    (name,) = ctx.required(ctx.body(), "name")
    if name not in EMOJI:
        raise ApiError(404, "404 Award Emoji Name is not a valid emoji name Not Found")
    award = ctx.state.award(target, name, ctx.caller.user)
    return json_response(ctx.shapes.award(award, target, awardable_type), 201)


def list_merge_requests(ctx: Ctx, project: str) -> Response:
    record = ctx.project(project, REPORTER)
    args = ctx.request.args
    state = args.get("state", "all")
    found = [m for m in sorted(record["merge_requests"].values(), key=lambda m: -m["iid"])
             if state in ("all", m["state"]) and args.get("source_branch") in (None, m["source_branch"])
             and args.get("target_branch") in (None, m["target_branch"])]
    return ctx.page([ctx.shapes.merge_request(record, m) for m in found])


def create_merge_request(ctx: Ctx, project: str) -> Response:
    record = ctx.project(project, DEVELOPER, write=True)
    body = ctx.body()
    source, target, title = ctx.required(body, "source_branch", "target_branch", "title")
    with ctx.state.lock:
        for branch in (source, target):
            if git.branch_head(record["git_dir"], branch) is None:
                raise ApiError(409, [f'Branch "{branch}" does not exist'])
        if source == target:
            raise ApiError(409, ["You can't use same project/branch for source and target"])
        existing = ctx.state.open_merge_requests(record, source)
        if existing:
            raise ApiError(409, [f"Another open merge request already exists for this source branch: "
                                 f"!{existing[0]['iid']}"])
        fields = {"title": title, "description": body.get("description") or "", "source_branch": source,
                  "target_branch": target, "sha": git.branch_head(record["git_dir"], source)}
        mr = ctx.state.open_noteable(record, "merge_requests", fields, ctx.caller.user)
    return json_response(ctx.shapes.merge_request(record, mr), 201)


def merge_request_diffs(ctx: Ctx, project: str, iid: str) -> Response:
    """GET …/merge_requests/:iid/diffs: one entry per changed file, its hunks without the git headers."""
    record, mr = _noteable(ctx, project, "merge_requests", iid)
    sync_merge_request_refs(ctx.emu, record)
    base, head = mr["target_branch"], head_ref(mr)
    found = []
    for status, path in git.changed_paths(record["git_dir"], base, head):
        text = git.diff_between(record["git_dir"], base, head, path)
        hunks = text[text.find("@@"):] if "@@" in text else ""
        found.append({"old_path": path, "new_path": path, "a_mode": "0" if status == "A" else "100644",
                      "b_mode": "0" if status == "D" else "100644", "new_file": status == "A",
                      "renamed_file": False, "deleted_file": status == "D", "generated_file": False, "diff": hunks})
    return ctx.page(found)


def update_merge_request(ctx: Ctx, project: str, iid: str) -> Response:
    record, mr = _noteable(ctx, project, "merge_requests", iid, write=True)
    if ctx.state.access_level(record, ctx.caller.user) < DEVELOPER:
        raise ApiError(403, "403 Forbidden")
    body = ctx.body()
    changes = {k: body[k] for k in ("title", "description", "target_branch") if body.get(k) is not None}
    event = body.get("state_event")
    if event in ("close", "reopen"):
        changes["state"] = "closed" if event == "close" else "opened"
    if not changes:
        raise ApiError(400, "400 Bad request - at least one parameter must be provided")
    return json_response(ctx.shapes.merge_request(record, ctx.state.update(mr, changes)))


def _commit(record: dict, ref: str) -> str:
    found = git.run_git(record["git_dir"], "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if found.returncode != 0:
        raise not_found("Commit")
    return found.stdout.decode().strip()


def get_file(ctx: Ctx, project: str, file_path: str) -> Response:
    record = ctx.project(project, REPORTER)
    ref = ctx.request.args.get("ref")
    if not ref:
        raise ApiError(400, "400 Bad request - ref is missing")
    commit = _commit(record, ref)
    found = git.read_blob(record["git_dir"], commit, file_path)
    if found is None:
        raise not_found("File")
    data, blob = found
    return json_response({"file_name": file_path.rsplit("/", 1)[-1], "file_path": file_path,
                          "size": len(data), "encoding": "base64", "ref": ref, "blob_id": blob,
                          "commit_id": commit, "last_commit_id": commit, "execute_filemode": False,
                          "content_sha256": hashlib.sha256(data).hexdigest(),
                          "content": base64.b64encode(data).decode()})


def create_status(ctx: Ctx, project: str, sha: str) -> Response:
    record = ctx.project(project, DEVELOPER, write=True)
    body = ctx.body()
    (state,) = ctx.required(body, "state")
    if state not in STATUS_EVENTS:
        raise ApiError(400, "400 Bad request - state does not have a valid value")
    sha = _commit(record, sha)
    fields = {"status": state, "name": body.get("name") or body.get("context") or "default",
              "ref": body.get("ref") or record["default_branch"], "target_url": body.get("target_url"),
              "description": body.get("description")}
    status = ctx.state.set_status(record, sha, fields, ctx.caller.user)
    return json_response(ctx.shapes.status(status), 201)


def list_statuses(ctx: Ctx, project: str, sha: str) -> Response:
    record = ctx.project(project, REPORTER)
    sha, args = _commit(record, sha), ctx.request.args
    found = [s for s in record["statuses"] if s["sha"] == sha
             and args.get("name") in (None, s["name"]) and args.get("ref") in (None, s["ref"])]
    if args.get("all") not in ("true", "1"):  # by default only the latest status of each name
        found = [s for s in found if s is ctx.state.latest_status(record, sha, s["name"])]
    return ctx.page([ctx.shapes.status(s) for s in found])


_P = r"/projects/(?P<project>[^/]+)"
_N = _P + r"/(?P<kind>issues|merge_requests)/(?P<iid>\d+)"
ROUTES = [
    ("GET", r"/user", current_user), ("GET", r"/users", list_users), ("GET", r"/version", version),
    ("GET", r"/personal_access_tokens/self", token_self),
    ("GET", _P, get_project), ("GET", _P + r"/members/all/(?P<user_id>\d+)", get_member),
    ("GET", _P + r"/merge_requests", list_merge_requests),
    ("POST", _P + r"/merge_requests", create_merge_request),
    ("PUT", _P + r"/merge_requests/(?P<iid>\d+)", update_merge_request),
    ("GET", _P + r"/merge_requests/(?P<iid>\d+)/diffs", merge_request_diffs),
    ("GET", _N, get_noteable), ("PUT", _P + r"/issues/(?P<iid>\d+)", update_issue),
    ("GET", _N + r"/resource_label_events", list_label_events),
    ("GET", _N + r"/notes", list_notes), ("POST", _N + r"/notes", create_note),
    ("GET", _N + r"/notes/(?P<note_id>\d+)", get_note), ("PUT", _N + r"/notes/(?P<note_id>\d+)", update_note),
    ("GET", _N + r"/award_emoji", list_awards), ("POST", _N + r"/award_emoji", create_award),
    ("GET", _N + r"/notes/(?P<note_id>\d+)/award_emoji", list_awards),
    ("POST", _N + r"/notes/(?P<note_id>\d+)/award_emoji", create_award),
    ("GET", _P + r"/repository/files/(?P<file_path>[^/]+)", get_file),
    ("POST", _P + r"/statuses/(?P<sha>[^/]+)", create_status),
    ("GET", _P + r"/repository/commits/(?P<sha>[^/]+)/statuses", list_statuses),
]
COMPILED = [(method, re.compile(f"^{pattern}/?$"), handler) for method, pattern, handler in ROUTES]
