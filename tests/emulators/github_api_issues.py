"""Issue endpoints of the GitHub emulator: issues, comments, reactions, labels and their events."""

from __future__ import annotations

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from .github_http import Ctx, json_response
from .github_state import ApiError


def get_issue(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo, issue = ctx.issue(owner, name, number)
    return json_response(ctx.shapes.issue(repo, issue))


def update_issue(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo, issue = ctx.issue(owner, name, number, "write")
    body = ctx.body()
    changes = {k: body[k] for k in ("title", "body", "state") if k in body}
    if changes.get("state", "open") not in ("open", "closed"):
        raise ApiError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
    ctx.state.update(issue, changes)
    return json_response(ctx.shapes.issue(repo, issue))


def list_comments(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo, _ = ctx.issue(owner, name, number)
    comments = ctx.state.issue_comments(repo, number)
    return ctx.page([ctx.shapes.comment(repo, c) for c in comments])


def create_comment(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo, _ = ctx.issue(owner, name, number, "write")
    text = ctx.field(ctx.body(), "body")
    comment = ctx.state.add_comment(repo, number, text, ctx.acting_user())
    return json_response(ctx.shapes.comment(repo, comment), 201)


def get_comment(ctx: Ctx, owner: str, name: str, comment_id: int) -> Response:
    repo, comment = ctx.comment(owner, name, comment_id)
    return json_response(ctx.shapes.comment(repo, comment))


def edit_comment(ctx: Ctx, owner: str, name: str, comment_id: int) -> Response:
    repo, comment = ctx.comment(owner, name, comment_id, "write")
    ctx.state.update(comment, {"body": ctx.field(ctx.body(), "body")})
    return json_response(ctx.shapes.comment(repo, comment))


def delete_comment(ctx: Ctx, owner: str, name: str, comment_id: int) -> Response:
    repo, comment = ctx.comment(owner, name, comment_id, "write")
    with ctx.state.lock:
        ctx.state.issue(repo, comment["number"])["comment_ids"].remove(comment_id)
        del ctx.state.comments[comment_id]
    return json_response(None, 204)


def list_comment_reactions(ctx: Ctx, owner: str, name: str, comment_id: int) -> Response:
    _, comment = ctx.comment(owner, name, comment_id)
    return _list_reactions(ctx, comment)


def add_comment_reaction(ctx: Ctx, owner: str, name: str, comment_id: int) -> Response:
    _, comment = ctx.comment(owner, name, comment_id, "write")
    return _add_reaction(ctx, comment)


def list_issue_reactions(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    _, issue = ctx.issue(owner, name, number)
    return _list_reactions(ctx, issue)


def add_issue_reaction(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    _, issue = ctx.issue(owner, name, number, "write")
    return _add_reaction(ctx, issue)


def _list_reactions(ctx: Ctx, target: dict) -> Response:
    wanted = ctx.request.args.get("content")
    with ctx.state.lock:
        reactions = [r for r in target["reactions"] if wanted in (None, r["content"])]
    return ctx.page([ctx.shapes.reaction(r) for r in reactions])


def _add_reaction(ctx: Ctx, target: dict) -> Response:
    content = ctx.field(ctx.body(), "content")
    reaction, created = ctx.state.react(target, content, ctx.acting_user())
    return json_response(ctx.shapes.reaction(reaction), 201 if created else 200)


def list_labels(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo, issue = ctx.issue(owner, name, number)
    return ctx.page([ctx.shapes.label(repo, n) for n in issue["labels"]])


def add_labels(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo, issue = ctx.issue(owner, name, number, "write")
    body = ctx.body()
    names = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError(422, "Validation Failed", [{"field": "labels", "code": "invalid"}])
    added = ctx.state.add_labels(issue, names, ctx.acting_user())
    return json_response([ctx.shapes.label(repo, n) for n in added])


def remove_label(ctx: Ctx, owner: str, name: str, number: int, label: str) -> Response:
    repo, issue = ctx.issue(owner, name, number, "write")
    left = ctx.state.remove_label(issue, label, ctx.acting_user())
    return json_response([ctx.shapes.label(repo, n) for n in left])


def list_events(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    """GET …/issues/:number/events, oldest first, as GitHub lists them."""
    repo, issue = ctx.issue(owner, name, number)
    with ctx.state.lock:
        events = list(issue["events"])
    return ctx.page([ctx.shapes.issue_event(repo, issue, e) for e in events])


ISSUE = "/repos/<owner>/<name>/issues/<int:number>"
COMMENT = "/repos/<owner>/<name>/issues/comments/<int:comment_id>"
RULES = [
    Rule(ISSUE, endpoint=get_issue, methods=["GET"]),
    Rule(ISSUE, endpoint=update_issue, methods=["PATCH"]),
    Rule(ISSUE + "/comments", endpoint=list_comments, methods=["GET"]),
    Rule(ISSUE + "/comments", endpoint=create_comment, methods=["POST"]),
    Rule(ISSUE + "/reactions", endpoint=list_issue_reactions, methods=["GET"]),
    Rule(ISSUE + "/reactions", endpoint=add_issue_reaction, methods=["POST"]),
    Rule(ISSUE + "/labels", endpoint=list_labels, methods=["GET"]),
    Rule(ISSUE + "/labels", endpoint=add_labels, methods=["POST"]),
    Rule(ISSUE + "/labels/<label>", endpoint=remove_label, methods=["DELETE"]),
    Rule(ISSUE + "/events", endpoint=list_events, methods=["GET"]),
    Rule(COMMENT, endpoint=get_comment, methods=["GET"]),
    Rule(COMMENT, endpoint=edit_comment, methods=["PATCH"]),
    Rule(COMMENT, endpoint=delete_comment, methods=["DELETE"]),
    Rule(COMMENT + "/reactions", endpoint=list_comment_reactions, methods=["GET"]),
    Rule(COMMENT + "/reactions", endpoint=add_comment_reaction, methods=["POST"]),
]
