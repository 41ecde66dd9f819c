"""Request context, JSON answers and pagination shared by the GitHub emulator's REST handlers."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from .github_auth import Caller, require
from .github_state import ApiError

if TYPE_CHECKING:
    from .github import GitHubEmulator

DOCS = "https://docs.github.com/rest"


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    reset = str(int(time.time()) + 3600)
    base = {"X-GitHub-Media-Type": "github.v3; format=json", "X-GitHub-Request-Id": uuid.uuid4().hex,
            "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Used": "1",
            "X-RateLimit-Reset": reset, "X-RateLimit-Resource": "core"}
    body = "" if status == 204 else json.dumps(data)
    return Response(body, status=status, headers={**base, **(headers or {})},
                    content_type="application/json; charset=utf-8")


def error_response(error: ApiError) -> Response:
    data = {"message": error.message, "documentation_url": DOCS, "status": str(error.status)}
    if error.errors:
        data["errors"] = error.errors
    return json_response(data, error.status)


@dataclass
class Ctx:
    """What a REST handler needs: the emulator, the request and who sent it."""

    emu: GitHubEmulator
    request: Request
    caller: Caller

    @property
    def state(self):
        return self.emu.state

    @property
    def shapes(self):
        return self.emu.shapes

    def body(self) -> dict | list:
        raw = self.request.get_data()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "Problems parsing JSON")

    def field(self, body: dict, name: str, kind: type = str):
        value = body.get(name)
        if not isinstance(value, kind):
            raise ApiError(422, "Validation Failed", [{"field": name, "code": "missing_field"
                                                       if value is None else "invalid"}])
        return value

    def repo(self, owner: str, name: str, permission: str = "metadata", level: str = "read",
             also: str | None = None) -> dict:
        repo = self.state.repo(f"{owner}/{name}")
        require(self.caller, repo, "metadata")
        require(self.caller, repo, permission, level, also)
        return repo

    def issue(self, owner: str, name: str, number: int, level: str = "read") -> tuple[dict, dict]:
        """Issue endpoints accept pull_requests instead of issues when the number is a pull."""
        repo = self.repo(owner, name)
        issue = self.state.issue(repo, number)
        require(self.caller, repo, "issues", level, also="pull_requests" if issue["pull"] else None)
        return repo, issue

    def comment(self, owner: str, name: str, comment_id: int, level: str = "read") -> tuple[dict, dict]:
        repo = self.repo(owner, name)
        comment = self.state.comment(repo, comment_id)
        issue = self.state.issue(repo, comment["number"])
        require(self.caller, repo, "issues", level, also="pull_requests" if issue["pull"] else None)
        return repo, comment

    def acting_user(self) -> dict:
        return self.emu.bot_user

    def page(self, items: list) -> Response:
        """Slices a list the way GitHub does (per_page up to 100) and links prev, next, first and last as it does."""
        per_page = min(max(self.request.args.get("per_page", 30, type=int), 1), 100)
        page = max(self.request.args.get("page", 1, type=int), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        for rel, number, shown in (("prev", page - 1, page > 1), ("next", page + 1, page < last),
                                   ("first", 1, page > 1), ("last", last, page < last)):
            if shown:
                args = {**self.request.args.to_dict(), "page": number, "per_page": per_page}
                links.append(f'<{self.emu.url}{self.request.path}?{urlencode(args)}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else None
        return json_response(items[(page - 1) * per_page: page * per_page], headers=headers)
