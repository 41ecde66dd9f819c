"""GitHub's OAuth web flow in the emulator: authorize, code for token, and GET /user with that token.

The person at the browser is whoever the test names with `sign_in_as(emu, login)`, as if they were logged
in to GitHub and had authorized the app before: /login/oauth/authorize redirects straight back with a code.
A user token reaches the repositories the user has a role on, read-only, so the REST endpoints that check
tokens (GET /repos/…, …/collaborators/{login}/permission) answer for that user as GitHub does.
"""

from __future__ import annotations

import secrets
import time

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from .github_http import Ctx, json_response
from .github_state import ApiError
from .oauth_codes import client_authenticated, oauth, redeem_code, redirect_with_code
from .oauth_codes import register_client, sign_in_as  # noqa: F401 -- tests call these through this module

TOKEN_LIFETIME = 8 * 3600


def authorize(ctx: Ctx) -> Response:
    args, apps = ctx.request.args, oauth(ctx.emu)
    if args.get("client_id") not in apps.clients:
        raise ApiError(404, "Not Found")
    if apps.signed_in is None:
        return Response("Sign in to GitHub to continue.", 401, content_type="text/plain")
    return redirect_with_code(apps, args, 10)


def access_token(ctx: Ctx) -> Response:
    """GitHub answers mistakes here with 200 and an `error` field, as the real endpoint does."""
    body = ctx.request.get_json(silent=True) or ctx.request.form.to_dict()
    apps = oauth(ctx.emu)
    if not client_authenticated(apps, body):
        return json_response({"error": "incorrect_client_credentials",
                              "error_description": "The client_id and/or client_secret passed are incorrect."})
    grant = redeem_code(apps, body)
    if grant is None or grant["client_id"] != body["client_id"]:
        return json_response({"error": "bad_verification_code",
                              "error_description": "The code passed is incorrect or expired."})
    token = _mint_user_token(ctx, grant["user"])
    return json_response({"access_token": token, "token_type": "bearer", "scope": ""})


def _mint_user_token(ctx: Ctx, login: str) -> str:
    state = ctx.state
    with state.lock:
        user = state.add_user(login)
        repo_ids = [repo["id"] for repo in state.repos.values() if repo["roles"].get(login.lower(), "none") != "none"]
        token = "ghu_" + secrets.token_urlsafe(27)
        state.tokens[token] = {"token": token, "installation_id": None, "user": user, "repo_ids": repo_ids,
                               "selection": "selected", "permissions": {"metadata": "read", "contents": "read"},
                               "expires": time.time() + TOKEN_LIFETIME, "revoked": False}
    return token


def current_user(ctx: Ctx) -> Response:
    token = ctx.caller.token
    if token is None or not token.get("user"):
        raise ApiError(401, "Requires authentication")
    return json_response(ctx.shapes.user(token["user"]))


RULES = [
    Rule("/login/oauth/authorize", endpoint=authorize, methods=["GET"]),
    Rule("/login/oauth/access_token", endpoint=access_token, methods=["POST"]),
    Rule("/user", endpoint=current_user, methods=["GET"]),
]
