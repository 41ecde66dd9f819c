"""GitHub App endpoints of the emulator: the app, installations, tokens and the rate limit."""

from __future__ import annotations

import time

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from .github_auth import expires_at_iso, mint_token, require_jwt
from .github_http import Ctx, json_response
from .github_state import ApiError


def get_app(ctx: Ctx) -> Response:
    require_jwt(ctx.caller)
    return json_response(ctx.emu.app_json())


def list_installations(ctx: Ctx) -> Response:
    require_jwt(ctx.caller)
    with ctx.state.lock:
        installs = list(ctx.state.installations.values())
    return ctx.page([ctx.shapes.installation(i, ctx.emu.app_id, ctx.emu.app_slug) for i in installs])


def get_installation(ctx: Ctx, installation_id: int) -> Response:
    require_jwt(ctx.caller)
    inst = ctx.state.installation(installation_id)
    return json_response(ctx.shapes.installation(inst, ctx.emu.app_id, ctx.emu.app_slug))


def get_repo_installation(ctx: Ctx, owner: str, name: str) -> Response:
    require_jwt(ctx.caller)
    inst = ctx.state.installation_for_repo(ctx.state.repo(f"{owner}/{name}"))
    if inst is None:
        raise ApiError(404, "Not Found")
    return json_response(ctx.shapes.installation(inst, ctx.emu.app_id, ctx.emu.app_slug))


def create_access_token(ctx: Ctx, installation_id: int) -> Response:
    require_jwt(ctx.caller)
    inst = ctx.state.installation(installation_id)
    body = ctx.body()
    if not isinstance(body, dict):
        raise ApiError(400, "Problems parsing JSON")
    token = mint_token(ctx.state, inst, body)
    repos = [ctx.shapes.repo(ctx.state.repo_by_id(i)) for i in token["repo_ids"]]
    return json_response({"token": token["token"], "expires_at": expires_at_iso(token),
                          "permissions": token["permissions"], "repositories": repos,
                          "repository_selection": token["selection"]}, 201)


def list_installation_repos(ctx: Ctx) -> Response:
    token = _installation_token(ctx)
    repos = [ctx.shapes.repo(ctx.state.repo_by_id(i)) for i in token["repo_ids"]]
    return json_response({"total_count": len(repos), "repositories": repos,
                          "repository_selection": token["selection"]})


def revoke_token(ctx: Ctx) -> Response:
    token = _installation_token(ctx)
    with ctx.state.lock:
        token["revoked"] = True
    return json_response(None, 204)


def _installation_token(ctx: Ctx) -> dict:
    if ctx.caller.token is None:
        raise ApiError(401, "Bad credentials")
    return ctx.caller.token


def rate_limit(ctx: Ctx) -> Response:
    reset = int(time.time()) + 3600
    bucket = {"limit": 5000, "used": 1, "remaining": 4999, "reset": reset}
    resources = {name: dict(bucket) for name in ("core", "search", "graphql", "integration_manifest",
                                                  "code_scanning_upload", "code_search")}
    return json_response({"resources": resources, "rate": bucket})


RULES = [
    Rule("/app", endpoint=get_app, methods=["GET"]),
    Rule("/app/installations", endpoint=list_installations, methods=["GET"]),
    Rule("/app/installations/<int:installation_id>", endpoint=get_installation, methods=["GET"]),
    Rule("/app/installations/<int:installation_id>/access_tokens", endpoint=create_access_token,
         methods=["POST"]),
    Rule("/repos/<owner>/<name>/installation", endpoint=get_repo_installation, methods=["GET"]),
    Rule("/installation/repositories", endpoint=list_installation_repos, methods=["GET"]),
    Rule("/installation/token", endpoint=revoke_token, methods=["DELETE"]),
    Rule("/rate_limit", endpoint=rate_limit, methods=["GET"]),
]
