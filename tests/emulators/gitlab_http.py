"""Who is calling, what they may do, and GitLab-style JSON answers with pagination headers."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from .gitlab_state import ApiError, covers

if TYPE_CHECKING:
    from .gitlab import GitLabEmulator

API_READ_SCOPES = ("api", "read_api")
GIT_READ_SCOPES = ("api", "read_api", "read_repository", "write_repository")
GIT_WRITE_SCOPES = ("api", "write_repository")
UNAUTHORIZED = "401 Unauthorized"
FORBIDDEN = "403 Forbidden"


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    body = "" if status == 204 else json.dumps(data)
    return Response(body, status=status, headers=headers or {}, content_type="application/json")


def error_response(error: ApiError) -> Response:
    key = "error" if error.message == "404 Not Found" else "message"  # unknown routes say "error"
    return json_response({key: error.message}, error.status)


def token_from_headers(headers) -> str | None:
    """PRIVATE-TOKEN, a Bearer token, or the password of HTTP Basic (git sends any username)."""
    if headers.get("PRIVATE-TOKEN"):
        return headers["PRIVATE-TOKEN"].strip()
    scheme, _, value = (headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, UNAUTHORIZED)
    return None


@dataclass
class Caller:
    """The token record of the request (None when it sent no token)."""

    token: dict | None

    @property
    def user(self) -> dict:
        if self.token is None:
            raise ApiError(401, UNAUTHORIZED)
        return self.token["user"]

    def require_scope(self, *scopes: str) -> None:
        if self.token is None:
            raise ApiError(401, UNAUTHORIZED)
        if not set(scopes) & set(self.token["scopes"]):
            raise ApiError(403, FORBIDDEN)

    def reaches(self, project: dict) -> bool:
        return self.token is not None and covers(self.token["path"], project["path_with_namespace"])


def identify(headers, tokens: dict) -> Caller:
    token = token_from_headers(headers)
    if token is None:
        return Caller(None)
    record = tokens.get(token)
    if record is None or record["revoked"]:
        raise ApiError(401, UNAUTHORIZED)
    return Caller(record)


@dataclass
class Ctx:
    """What a REST handler needs: the emulator, the request and who sent it."""

    emu: GitLabEmulator
    request: Request
    caller: Caller

    @property
    def state(self):
        return self.emu.state

    @property
    def shapes(self):
        return self.emu.shapes

    def body(self) -> dict:
        """JSON as python-gitlab sends it, or a form as curl does."""
        if self.request.mimetype == "application/json":
            raw = self.request.get_data()
            try:
                data = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ApiError(400, "400 Bad request - JSON body could not be parsed")
            return data if isinstance(data, dict) else {}
        return self.request.form.to_dict()

    def required(self, body: dict, *names: str) -> list:
        missing = [n for n in names if body.get(n) in (None, "")]
        if missing:
            raise ApiError(400, f"400 Bad request - {missing[0]} is missing")
        return [body[n] for n in names]

    def project(self, ref: str, level: int, write: bool = False) -> dict:
        """The project if the token reaches it (else 404), has the scope and the level (else 403)."""
        self.caller.require_scope("api") if write else self.caller.require_scope(*API_READ_SCOPES)
        project = self.state.project(ref)
        if not self.caller.reaches(project):
            raise ApiError(404, "404 Project Not Found")
        if self.state.access_level(project, self.caller.user) < level:
            raise ApiError(403, FORBIDDEN)
        return project

    def page(self, items: list) -> Response:
        """Slices a list as GitLab does (per_page up to 100) with X-* headers and a Link to the next."""
        args = self.request.args
        per_page = min(max(args.get("per_page", 20, type=int), 1), 100)
        page = max(args.get("page", 1, type=int), 1)
        pages = max((len(items) + per_page - 1) // per_page, 1)
        headers = {"X-Total": str(len(items)), "X-Total-Pages": str(pages), "X-Per-Page": str(per_page),
                   "X-Page": str(page), "X-Next-Page": str(page + 1) if page < pages else "",
                   "X-Prev-Page": str(page - 1) if page > 1 else ""}
        links = [f'<{self._page_url(n, per_page)}>; rel="{rel}"'
                 for rel, n in (("next", page + 1), ("first", 1), ("last", pages)) if rel != "next" or page < pages]
        headers["Link"] = ", ".join(links)
        return json_response(items[(page - 1) * per_page: page * per_page], headers=headers)

    def _page_url(self, number: int, per_page: int) -> str:
        args = {**self.request.args.to_dict(), "page": number, "per_page": per_page}
        raw_path = self.request.environ.get("RAW_URI", self.request.path).split("?", 1)[0]
        return f"{self.emu.url}{raw_path}?{urlencode(args)}"
