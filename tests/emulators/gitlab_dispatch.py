"""Routes each request to the GitLab emulator's REST handlers or to git, and records it."""

from __future__ import annotations

import re
import sys
import traceback
from typing import TYPE_CHECKING
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from . import github_git as git
from . import gitlab_ci, gitlab_oauth, gitlab_reviews
from .gitlab_api import COMPILED
from .gitlab_http import GIT_READ_SCOPES, GIT_WRITE_SCOPES, Caller, Ctx, error_response, identify, json_response
from .gitlab_state import DEVELOPER, REPORTER, ApiError

if TYPE_CHECKING:
    from .gitlab import GitLabEmulator

API_PREFIX = "/api/v4"
GIT_PATH = re.compile(r"^/(?P<path>.+?)\.git(?P<rest>/.*)$")
ROUTES = gitlab_oauth.COMPILED + gitlab_reviews.COMPILED + gitlab_ci.COMPILED + COMPILED
NO_PROJECT = "The project you were looking for could not be found or you don't have permission to view it."


class Dispatcher:
    """The WSGI app of the emulator; every request lands in `emu.requests` with its status."""

    def __init__(self, emu: GitLabEmulator):
        self.emu = emu

    def __call__(self, environ, start_response):
        request = Request(environ)
        # The raw path keeps %2F inside ids (group%2Fproject), which PATH_INFO has already decoded.
        raw_path = environ.get("RAW_URI", environ.get("REQUEST_URI", request.path)).split("?", 1)[0]
        record = {"method": request.method, "path": raw_path, "query": request.query_string.decode(),
                  "token": None, "status": None}
        git_match = GIT_PATH.match(request.path) if not raw_path.startswith(API_PREFIX + "/") else None
        try:
            caller = identify(request.headers, self.emu.state.tokens)
            record["token"] = caller.token and caller.token["token"]
            if git_match:
                response = self._serve_git(environ, caller, **git_match.groupdict())
            else:
                response = self._serve_api(request, raw_path, caller)
        except ApiError as error:
            response = _git_error(error) if git_match else error_response(error)
        except Exception:  # an emulator bug: answer 500 and keep it for the test to see
            self.emu.errors.append(traceback.format_exc())
            print(self.emu.errors[-1], file=sys.stderr)
            response = json_response({"message": "500 Internal Server Error"}, 500)
        record["status"] = response.status_code
        with self.emu.state.lock:
            self.emu.requests.append(record)
        return response(environ, start_response)

    def _serve_api(self, request: Request, raw_path: str, caller: Caller) -> Response:
        if raw_path.startswith("/oauth/"):
            return gitlab_oauth.serve_oauth(self.emu, request)
        if not raw_path.startswith(API_PREFIX + "/"):
            raise ApiError(404, "404 Not Found")
        route = raw_path[len(API_PREFIX):]
        for method, pattern, handler in ROUTES:
            match = pattern.match(route)
            if match and method == request.method:
                values = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                with self.emu.state.lock:  # one REST call at a time, so records never change mid-render
                    return handler(Ctx(self.emu, request, caller), **values)
        raise ApiError(404, "404 Not Found")

    def _serve_git(self, environ, caller: Caller, path: str, rest: str) -> Response:
        request = Request(environ)
        service = request.args.get("service") or rest.rsplit("/", 1)[-1]
        pushing = service == "git-receive-pack"
        project = self._git_project(caller, path, pushing)
        before = git.list_heads(project["git_dir"]) if pushing and rest == "/git-receive-pack" else None
        if not pushing:
            with self.emu.state.lock:
                gitlab_reviews.sync_merge_request_refs(self.emu, project)

        def on_finish(returncode: int) -> None:
            if before is not None:
                self._record_pushes(project, before, caller.token["token"])

        return git.serve_http_backend(environ, self.emu.repos_root,
                                      f"/{project['path_with_namespace']}.git{rest}", "oauth2", on_finish)

    def _git_project(self, caller: Caller, path: str, pushing: bool) -> dict:
        """GitLab's answers to git: 401 asks for credentials, 404 hides projects, 403 refuses a push."""
        if caller.token is None:
            raise ApiError(401, "HTTP Basic: Access denied")
        try:
            project = self.emu.state.project(path)
        except ApiError:
            raise ApiError(404, NO_PROJECT)
        level = self.emu.state.access_level(project, caller.user)
        if not caller.reaches(project) or not level:
            raise ApiError(404, NO_PROJECT)
        if level < REPORTER or not set(caller.token["scopes"]) & set(GIT_READ_SCOPES):
            raise ApiError(403, "You are not allowed to download code from this project.")
        if pushing and (level < DEVELOPER or not set(caller.token["scopes"]) & set(GIT_WRITE_SCOPES)):
            raise ApiError(403, "You are not allowed to push code to this project.")
        return project

    def _record_pushes(self, project: dict, before: dict, token: str) -> None:
        after = git.list_heads(project["git_dir"])
        for branch in sorted(set(before) | set(after)):
            if before.get(branch) != after.get(branch):
                push = {"project": project["path_with_namespace"], "branch": branch,
                        "old_sha": before.get(branch), "sha": after.get(branch), "token": token}
                with self.emu.state.lock:
                    self.emu.pushes.append(push)


def _git_error(error: ApiError) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="GitLab"'} if error.status == 401 else {}
    return Response(f"{error.message}\n", status=error.status, headers=headers,
                    content_type="text/plain; charset=utf-8")
