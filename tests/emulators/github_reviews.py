"""Pull request reviews in the GitHub emulator: reviews with line comments, replies on their threads."""

from __future__ import annotations

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from . import github_git as git
from .github_auth import require
from .github_http import Ctx, json_response
from .github_state import ApiError, now_iso


class Reviews:
    """Reviews and review comments, keyed by id; the emulator's state lock guards them."""

    def __init__(self, state):
        self.state = state
        self.reviews: dict[int, dict] = {}
        self.comments: dict[int, dict] = {}

    def add_review(self, repo: dict, number: int, user: dict, state: str, body: str, lines: list[dict],
                   commit_id: str = "0" * 40) -> dict:
        with self.state.lock:
            review = {"id": self.state.next_id(), "repo_id": repo["id"], "number": number, "user": user,
                      "state": state, "body": body, "submitted_at": now_iso(), "commit_id": commit_id}
            self.reviews[review["id"]] = review
        for line in lines:
            self.add_comment(repo, number, user, line["path"], line["line"], line["body"], review["id"],
                             commit_id=commit_id)
        return review

    def add_comment(self, repo: dict, number: int, user: dict, path: str, line: int, body: str,
                    review_id: int | None = None, in_reply_to: int | None = None, commit_id: str = "0" * 40) -> dict:
        with self.state.lock:
            comment = {"id": self.state.next_id(), "repo_id": repo["id"], "number": number, "user": user,
                       "path": path, "line": line, "body": body, "review_id": review_id, "commit_id": commit_id,
                       "in_reply_to_id": in_reply_to, "created_at": now_iso(),
                       "diff_hunk": f"@@ -{max(line - 2, 1)},3 +{max(line - 2, 1)},3 @@ (context of {path})"}
            self.comments[comment["id"]] = comment
        return comment

    def thread(self, comment_id: int) -> list[dict]:
        return [c for c in self.comments.values() if c["in_reply_to_id"] == comment_id]


def comment_shape(base: str, repo: dict, comment: dict, user_shape) -> dict:
    api = f"{base}/repos/{repo['full_name']}/pulls/comments/{comment['id']}"
    data = {"id": comment["id"], "node_id": f"PRRC_{comment['id']}", "url": api, "body": comment["body"],
            "path": comment["path"], "line": comment["line"], "original_line": comment["line"],
            "position": comment["line"], "diff_hunk": comment["diff_hunk"], "side": "RIGHT",
            "pull_request_review_id": comment["review_id"], "user": user_shape(comment["user"]),
            "commit_id": comment.get("commit_id", "0" * 40), "original_commit_id": comment.get("commit_id", "0" * 40),
            "created_at": comment["created_at"],
            "updated_at": comment["created_at"], "author_association": "MEMBER",
            "html_url": f"{base}/{repo['full_name']}/pull/{comment['number']}#discussion_r{comment['id']}",
            "pull_request_url": f"{base}/repos/{repo['full_name']}/pulls/{comment['number']}"}
    if comment["in_reply_to_id"]:
        data["in_reply_to_id"] = comment["in_reply_to_id"]
    return data


def review_shape(base: str, repo: dict, review: dict, user_shape) -> dict:
    return {"id": review["id"], "node_id": f"PRR_{review['id']}", "user": user_shape(review["user"]),
            "body": review["body"], "state": review["state"], "submitted_at": review["submitted_at"],
            "commit_id": review.get("commit_id", "0" * 40), "author_association": "MEMBER",
            "html_url": f"{base}/{repo['full_name']}/pull/{review['number']}#pullrequestreview-{review['id']}",
            "pull_request_url": f"{base}/repos/{repo['full_name']}/pulls/{review['number']}"}


def _pull(ctx: Ctx, owner: str, name: str, number: int, level: str = "read") -> dict:
    repo = ctx.repo(owner, name)
    if not ctx.state.issue(repo, number)["pull"]:
        raise ApiError(404, "Not Found")
    require(ctx.caller, repo, "pull_requests", level)
    return repo


def list_review_comments(ctx: Ctx, owner: str, name: str, number: int, review_id: int) -> Response:
    repo = _pull(ctx, owner, name, number)
    found = [c for c in ctx.emu.reviews.comments.values() if c["review_id"] == review_id and c["number"] == number]
    return ctx.page([comment_shape(ctx.emu.url, repo, c, ctx.shapes.user) for c in found])


def get_review_comment(ctx: Ctx, owner: str, name: str, comment_id: int) -> Response:
    comment = ctx.emu.reviews.comments.get(comment_id)
    if comment is None:
        raise ApiError(404, "Not Found")
    repo = _pull(ctx, owner, name, comment["number"])
    return json_response(comment_shape(ctx.emu.url, repo, comment, ctx.shapes.user))


def reply_to_comment(ctx: Ctx, owner: str, name: str, number: int, comment_id: int) -> Response:
    repo = _pull(ctx, owner, name, number, "write")
    parent = ctx.emu.reviews.comments.get(comment_id)
    if parent is None or parent["number"] != number:
        raise ApiError(404, "Not Found")
    text = ctx.field(ctx.body(), "body")
    reply = ctx.emu.reviews.add_comment(repo, number, ctx.acting_user(), parent["path"], parent["line"], text,
                                        in_reply_to=comment_id)
    return json_response(comment_shape(ctx.emu.url, repo, reply, ctx.shapes.user), 201)


def sync_pull_refs(emu, repo: dict) -> None:
    """refs/pull/N/head of every pull request, as GitHub keeps them in the base repository (forks' too)."""
    for issue in emu.state.find_pulls(repo, "all"):
        source = emu.shapes.head_repo(repo, issue["pull"])
        sha = git.branch_head(source["path"], issue["pull"]["head"])
        if sha:
            git.set_ref(repo["path"], f"refs/pull/{issue['number']}/head", sha, source["path"])


def create_review(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    """A review with line comments; a comment off the pull request's diff is refused with 422, as on GitHub."""
    repo = _pull(ctx, owner, name, number, "write")
    body = ctx.body()
    event = body.get("event", "PENDING")
    if event not in ("COMMENT", "APPROVE", "REQUEST_CHANGES"):
        raise ApiError(422, "Unprocessable Entity", [f"event {event!r} is not supported by the emulator"])
    sync_pull_refs(ctx.emu, repo)
    pull = ctx.state.issue(repo, number)["pull"]
    head = f"refs/pull/{number}/head"
    head_sha = git.run_git(repo["path"], "rev-parse", head).stdout.decode().strip()
    lines = []
    for comment in body.get("comments") or []:
        path, line = ctx.field(comment, "path"), ctx.field(comment, "line", int)
        if comment.get("side", "RIGHT") != "RIGHT" or not any(
                a <= line <= b for a, b in git.new_side_ranges(repo["path"], pull["base"], head, path)):
            raise ApiError(422, "Unprocessable Entity",
                           ["Pull request review thread line must be part of the diff"])
        lines.append({"path": path, "line": line, "body": ctx.field(comment, "body")})
    state = {"COMMENT": "COMMENTED", "APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED"}[event]
    review = ctx.emu.reviews.add_review(repo, number, ctx.acting_user(), state, body.get("body") or "", lines,
                                        commit_id=body.get("commit_id") or head_sha)
    return json_response(review_shape(ctx.emu.url, repo, review, ctx.shapes.user))


def list_reviews(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    repo = _pull(ctx, owner, name, number)
    found = [r for r in ctx.emu.reviews.reviews.values() if r["repo_id"] == repo["id"] and r["number"] == number]
    return ctx.page([review_shape(ctx.emu.url, repo, r, ctx.shapes.user) for r in found])


def list_pull_comments(ctx: Ctx, owner: str, name: str, number: int) -> Response:
    """Every line comment of the pull request; one whose file changed since its commit is outdated (no line)."""
    repo = _pull(ctx, owner, name, number)
    sync_pull_refs(ctx.emu, repo)
    head = f"refs/pull/{number}/head"
    shown = []
    for c in ctx.emu.reviews.comments.values():
        if c["repo_id"] != repo["id"] or c["number"] != number:
            continue
        data = comment_shape(ctx.emu.url, repo, c, ctx.shapes.user)
        if c.get("commit_id", "0" * 40) != "0" * 40 and git.path_changed(repo["path"], c["commit_id"], head, c["path"]):
            data["line"] = data["position"] = None
        shown.append(data)
    return ctx.page(shown)


RULES = [
    Rule("/repos/<owner>/<name>/pulls/<int:number>/reviews", endpoint=create_review, methods=["POST"]),
    Rule("/repos/<owner>/<name>/pulls/<int:number>/reviews", endpoint=list_reviews, methods=["GET"]),
    Rule("/repos/<owner>/<name>/pulls/<int:number>/comments", endpoint=list_pull_comments, methods=["GET"]),
    Rule("/repos/<owner>/<name>/pulls/<int:number>/reviews/<int:review_id>/comments",
         endpoint=list_review_comments, methods=["GET"]),
    Rule("/repos/<owner>/<name>/pulls/comments/<int:comment_id>", endpoint=get_review_comment, methods=["GET"]),
    Rule("/repos/<owner>/<name>/pulls/<int:number>/comments/<int:comment_id>/replies",
         endpoint=reply_to_comment, methods=["POST"]),
]
