"""GitLab's OAuth web flow in the emulator: /oauth/authorize, /oauth/token, and what a user token may read.

The person at the browser is whoever the test names with `sign_in_as(emu, username)`. A user token has the
read_user and read_api scopes and reaches the projects its user is a member of, as GitLab's does.
"""

from __future__ import annotations

import json
import re
import secrets
import time

from werkzeug.wrappers import Request, Response

from .gitlab_api import _P, get_member
from .gitlab_http import Ctx, json_response
from .gitlab_state import GUEST, ApiError, now
from .oauth_codes import client_authenticated, oauth, redeem_code, redirect_with_code
from .oauth_codes import register_client, sign_in_as  # noqa: F401 -- tests call these through this module

TOKEN_LIFETIME = 7200


def serve_oauth(emu, request: Request) -> Response:
    if request.path == "/oauth/authorize" and request.method == "GET":
        return _authorize(emu, request)
    if request.path == "/oauth/token" and request.method == "POST":
        return _token(emu, request)
    raise ApiError(404, "404 Not Found")


def _authorize(emu, request: Request) -> Response:
    args, apps = request.args, oauth(emu)
    if args.get("client_id") not in apps.clients or args.get("response_type") != "code":
        return Response("The client authentication failed or the request is invalid.", 400, content_type="text/plain")
    if apps.signed_in is None:
        return Response("You need to sign in before continuing.", 401, content_type="text/plain")
    return redirect_with_code(apps, args, 16, redirect_uri=args.get("redirect_uri"))


def _token(emu, request: Request) -> Response:
    body = request.form.to_dict() or (json.loads(request.get_data() or b"{}") if request.is_json else {})
    apps = oauth(emu)
    if not client_authenticated(apps, body):
        return json_response({"error": "invalid_client", "error_description": "Client authentication failed."}, 401)
    grant = redeem_code(apps, body)
    if (grant is None or body.get("grant_type") != "authorization_code"
            or grant["redirect_uri"] != body.get("redirect_uri")):
        return json_response({"error": "invalid_grant", "error_description": "The provided authorization grant is "
                              "invalid, expired, revoked, does not match the redirection URI used in the "
                              "authorization request, or was issued to another client."}, 400)
    state, token = emu.state, "gloas-" + secrets.token_hex(20)
    with state.lock:
        user = state.add_user(grant["user"])
        state.tokens[token] = {"id": state.next_id(), "token": token, "name": "oauth", "scopes": ["read_user", "read_api"],
                               "path": "", "user": user, "access_level": 0, "created_at": now(), "revoked": False,
                               "oauth": True}
    return json_response({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
                          "refresh_token": secrets.token_hex(20), "scope": "read_user read_api",
                          "created_at": int(time.time())})


def member_for_user_token(ctx: Ctx, project: str, user_id: str) -> Response:
    """A user token sees the projects its user is a member of; other tokens go to the usual handler."""
    if not (ctx.caller.token or {}).get("oauth"):
        return get_member(ctx, project, user_id)
    ctx.caller.require_scope("api", "read_api")
    record = ctx.state.project(project)
    if ctx.state.access_level(record, ctx.caller.user) < GUEST:
        raise ApiError(404, "404 Project Not Found")
    user = ctx.state.user_by_id(int(user_id))
    level = ctx.state.access_level(record, user) if user else 0
    if not level:
        raise ApiError(404, "404 Not found")
    return json_response(ctx.shapes.member(user, level))


COMPILED = [("GET", re.compile(f"^{_P}/members/all/(?P<user_id>\\d+)/?$"), member_for_user_token)]
