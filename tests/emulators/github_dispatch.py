"""Routes each request to the GitHub emulator's REST handlers or to git, and records it."""

from __future__ import annotations

import re
import sys
import traceback
from typing import TYPE_CHECKING

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from . import (github_api_app, github_api_issues, github_api_repo, github_ci, github_manifests, github_oauth,
               github_reviews)
from . import github_git as git
from .github_auth import Caller, identify, require
from .github_http import Ctx, error_response, json_response
from .github_state import ApiError

if TYPE_CHECKING:
    from .github import GitHubEmulator

GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+?)\.git(?P<rest>/.*)$")
URL_MAP = Map(github_api_app.RULES + github_api_repo.RULES + github_api_issues.RULES + github_manifests.RULES
              + github_reviews.RULES + github_oauth.RULES + github_ci.RULES,
              strict_slashes=False, merge_slashes=False)


class Dispatcher:
    """The WSGI app of the emulator; every request lands in `emu.requests` with its status."""

    def __init__(self, emu: GitHubEmulator):
        self.emu = emu

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        record = {"method": request.method, "path": path, "query": request.query_string.decode(),
                  "auth": "none", "token": None, "status": None}
        git_match = GIT_PATH.match(path)
        try:
            caller = self._identify(request)
            record.update(auth=caller.kind, token=caller.token and caller.token["token"])
            if git_match:
                response = self._serve_git(environ, request, caller, **git_match.groupdict())
            else:
                response = self._serve_api(request, path, caller)
        except ApiError as error:
            response = _git_error(error) if git_match else error_response(error)
        except Exception:  # an emulator bug: answer 500 and keep it for the test to see
            self.emu.errors.append(traceback.format_exc())
            print(self.emu.errors[-1], file=sys.stderr)
            response = json_response({"message": "GitHub emulator error"}, 500)
        record["status"] = response.status_code
        with self.emu.state.lock:
            self.emu.requests.append(record)
        return response(environ, start_response)

    def _identify(self, request: Request) -> Caller:
        return identify(request.headers.get("Authorization"), self.emu.state, self.emu.app_id,
                        self.emu.app_public_key_pem)

    def _serve_api(self, request: Request, path: str, caller: Caller) -> Response:
        try:
            handler, values = URL_MAP.bind("127.0.0.1").match(path, request.method)
        except (NotFound, MethodNotAllowed):
            raise ApiError(404, "Not Found")
        with self.emu.state.lock:  # one REST call at a time, so records never change mid-render
            return handler(Ctx(self.emu, request, caller), **values)

    def _serve_git(self, environ, request: Request, caller: Caller, owner: str, name: str,
                   rest: str) -> Response:
        service = request.args.get("service") or rest.rsplit("/", 1)[-1]
        pushing = service == "git-receive-pack"
        try:
            repo = self.emu.state.repo(f"{owner}/{name}")
            if caller.kind == "none":
                raise ApiError(401, "Authentication required")
            require(caller, repo, "contents", "write" if pushing else "read")
        except ApiError as error:
            raise _git_denial(error, f"{owner}/{name}")
        before = git.list_heads(repo["path"]) if pushing and rest == "/git-receive-pack" else None
        if not pushing:
            with self.emu.state.lock:
                github_reviews.sync_pull_refs(self.emu, repo)

        def on_finish(returncode: int) -> None:
            if before is not None:
                self._record_pushes(repo, before, caller.token["token"])

        return git.serve_http_backend(environ, self.emu.repos_root, f"/{repo['full_name']}.git{rest}",
                                      "x-access-token", on_finish)

    def _record_pushes(self, repo: dict, before: dict, token: str) -> None:
        after = git.list_heads(repo["path"])
        for branch in sorted(set(before) | set(after)):
            if before.get(branch) != after.get(branch):
                push = {"repo": repo["full_name"], "branch": branch, "old_sha": before.get(branch),
                        "sha": after.get(branch), "token": token}
                with self.emu.state.lock:
                    self.emu.pushes.append(push)


def _git_denial(error: ApiError, full_name: str) -> ApiError:
    """git shows these texts to the user, so they say what GitHub says."""
    if error.status == 403:
        return ApiError(403, f"Permission to {full_name}.git denied to x-access-token.")
    if error.status == 404:
        return ApiError(404, "Repository not found.")
    return error


def _git_error(error: ApiError) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="GitHub"'} if error.status == 401 else {}
    return Response(error.message + "\n", status=error.status, headers=headers,
                    content_type="text/plain; charset=utf-8")
