"""Repository endpoints of the GitHub emulator: repo, permissions, branches, files, pulls, checks."""

from __future__ import annotations

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from . import github_git as git
from .github_http import Ctx, json_response
from .github_shapes import LEGACY_PERMISSION
from .github_state import ApiError, now_iso


def get_repo(ctx: Ctx, owner: str, name: str) -> Response:
    return json_response(ctx.shapes.repo(ctx.repo(owner, name)))


def get_permission(ctx: Ctx, owner: str, name: str, login: str) -> Response:
    repo = ctx.repo(owner, name)
    user = ctx.state.user(login)
    role = ctx.state.role(repo, login)
    return json_response({"permission": LEGACY_PERMISSION[role], "role_name": role,
                          "user": {**ctx.shapes.user(user), "role_name": role}})


def get_branch(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name, "contents")
    sha = git.branch_head(repo["path"], branch)
    if sha is None:
        raise ApiError(404, "Branch not found")
    return json_response(ctx.shapes.branch(repo, branch, sha))


def get_ref(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name, "contents")
    sha = git.branch_head(repo["path"], branch)
    if sha is None:
        raise ApiError(404, "Not Found")
    return json_response(ctx.shapes.ref(repo, branch, sha))


def get_contents(ctx: Ctx, owner: str, name: str, path: str) -> Response:
    repo = ctx.repo(owner, name, "contents")
    ref = ctx.request.args.get("ref") or repo["default_branch"]
    found = git.read_blob(repo["path"], ref, path)
    if found is None:
        raise ApiError(404, "Not Found")
    return json_response(ctx.shapes.content(repo, path, ref, *found))


def list_pulls(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name, "pull_requests")
    args = ctx.request.args
    head = args.get("head")
    if head is not None:
        head_owner, _, head = head.rpartition(":")
        if head_owner and head_owner.lower() != repo["owner"]["login"].lower():
            return ctx.page([])
    pulls = ctx.state.find_pulls(repo, args.get("state", "open"), head, args.get("base"))
    return ctx.page([ctx.shapes.pull(repo, p) for p in pulls])


def create_pull(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name, "pull_requests", "write")
    body = ctx.body()
    title, base = ctx.field(body, "title"), ctx.field(body, "base")
    head_owner, _, head = ctx.field(body, "head").rpartition(":")
    if head_owner and head_owner.lower() != repo["owner"]["login"].lower():
        raise _invalid("head")
    head_sha, base_sha = git.branch_head(repo["path"], head), git.branch_head(repo["path"], base)
    if head_sha is None:
        raise _invalid("head")
    if base_sha is None:
        raise _invalid("base")
    if head_sha == base_sha:
        raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                   "message": f"No commits between {base} and {head}"}])
    pull = ctx.state.open_pull(repo, head, base, title, body.get("body"), ctx.acting_user())
    pull["pull"]["draft"] = bool(body.get("draft"))
    return json_response(ctx.shapes.pull(repo, pull), 201)


def _invalid(field: str) -> ApiError:
    return ApiError(422, "Validation Failed", [{"resource": "PullRequest", "field": field,
                                               "code": "invalid"}])


def get_pull(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    """With `Accept: application/vnd.github.diff`, the pull request's diff as text, as GitHub answers it."""
    repo = ctx.repo(owner, name, "pull_requests")
    pull = ctx.state.pull(repo, number)
    if "diff" not in ctx.request.headers.get("Accept", ""):
        return json_response(ctx.shapes.pull(repo, pull))
    if pull["pull"].get("head_repo_id"):
        raise ApiError(422, "The emulator shows the diff of a pull request within one repository only")
    text = git.diff_between(repo["path"], pull["pull"]["base"], pull["pull"]["head"])
    return Response(text, content_type="application/vnd.github.diff; charset=utf-8")


def update_pull(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo = ctx.repo(owner, name, "pull_requests", "write")
    pull = ctx.state.pull(repo, number)
    body = ctx.body()
    changes = {k: body[k] for k in ("title", "body", "state") if k in body}
    if changes.get("state", "open") not in ("open", "closed"):
        raise ApiError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
    ctx.state.update(pull, changes)
    if "base" in body:
        pull["pull"]["base"] = body["base"]
    return json_response(ctx.shapes.pull(repo, pull))


CHECK_FIELDS = ("name", "head_sha", "status", "conclusion", "output", "details_url", "external_id",
                "started_at", "completed_at")


def create_check_run(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name, "checks", "write")
    body = ctx.body()
    for required in ("name", "head_sha"):
        ctx.field(body, required)
    run = ctx.state.add_check_run(repo, _check_changes(body))
    return json_response(ctx.shapes.check_run(repo, run, ctx.emu.app_json()), 201)


def get_check_run(ctx: Ctx, owner: str, name: str, run_id: int) -> Response:
    repo = ctx.repo(owner, name, "checks")
    run = ctx.state.check_run(repo, run_id)
    return json_response(ctx.shapes.check_run(repo, run, ctx.emu.app_json()))


def update_check_run(ctx: Ctx, owner: str, name: str, run_id: int) -> Response:
    repo = ctx.repo(owner, name, "checks", "write")
    run = ctx.state.check_run(repo, run_id)
    with ctx.state.lock:
        run.update(_check_changes(ctx.body()))
    return json_response(ctx.shapes.check_run(repo, run, ctx.emu.app_json()))


def _check_changes(body: dict) -> dict:
    """A conclusion completes the run, as on GitHub."""
    changes = {k: body[k] for k in CHECK_FIELDS if k in body}
    if changes.get("conclusion"):
        changes["status"] = "completed"
    if changes.get("status") == "completed" and not changes.get("completed_at"):
        changes["completed_at"] = now_iso()
    return changes


REPO = "/repos/<owner>/<name>"
RULES = [
    Rule(REPO, endpoint=get_repo, methods=["GET"]),
    Rule(REPO + "/collaborators/<login>/permission", endpoint=get_permission, methods=["GET"]),
    Rule(REPO + "/branches/<path:branch>", endpoint=get_branch, methods=["GET"]),
    Rule(REPO + "/git/ref/heads/<path:branch>", endpoint=get_ref, methods=["GET"]),
    Rule(REPO + "/git/refs/heads/<path:branch>", endpoint=get_ref, methods=["GET"]),
    Rule(REPO + "/contents/<path:path>", endpoint=get_contents, methods=["GET"]),
    Rule(REPO + "/pulls", endpoint=list_pulls, methods=["GET"]),
    Rule(REPO + "/pulls", endpoint=create_pull, methods=["POST"]),
    Rule(REPO + "/pulls/<int:number>", endpoint=get_pull, methods=["GET"]),
    Rule(REPO + "/pulls/<int:number>", endpoint=update_pull, methods=["PATCH"]),
    Rule(REPO + "/check-runs", endpoint=create_check_run, methods=["POST"]),
    Rule(REPO + "/check-runs/<int:run_id>", endpoint=get_check_run, methods=["GET"]),
    Rule(REPO + "/check-runs/<int:run_id>", endpoint=update_check_run, methods=["PATCH"]),
]
