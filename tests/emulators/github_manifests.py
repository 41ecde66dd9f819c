"""The GitHub App manifest flow in the emulator: the browser form GitHub serves, and the code conversion."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from .github_http import Ctx, json_response
from .github_state import ApiError

REQUIRED = ("name", "url", "hook_attributes", "redirect_url", "default_permissions")


def new_app_form(ctx: Ctx, org: str | None = None) -> Response:
    """What github.com does when the person clicks "Create GitHub App": redirect back with a one-time code."""
    raw = ctx.request.form.get("manifest", "")
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ApiError(422, "The manifest is not valid JSON")
    missing = [key for key in REQUIRED if key not in manifest]
    if missing:
        raise ApiError(422, f"The manifest lacks {', '.join(missing)}")
    code = secrets.token_hex(10)
    with ctx.state.lock:
        ctx.emu.manifests[code] = {"manifest": manifest, "org": org}
    query = urlencode({"code": code, "state": ctx.request.args.get("state", "")})
    return Response(status=302, headers={"Location": f"{manifest['redirect_url']}?{query}"})


def convert(ctx: Ctx, code: str) -> Response:
    """POST /app-manifests/{code}/conversions: the App's credentials, once per code."""
    with ctx.state.lock:
        pending = ctx.emu.manifests.pop(code, None)
    if pending is None:
        raise ApiError(404, "Not Found")
    if ctx.emu.app_private_key_pem is None:
        raise ApiError(422, "The emulator was started with a public key only; it cannot hand out a private key")
    manifest, webhook_secret = pending["manifest"], secrets.token_hex(20)
    ctx.emu.set_webhook(manifest["hook_attributes"]["url"], webhook_secret)
    ctx.emu.converted.append(manifest)
    app = ctx.emu.app_json()
    app.update({"pem": ctx.emu.app_private_key_pem, "webhook_secret": webhook_secret,
                "client_id": f"Iv1.{secrets.token_hex(8)}", "client_secret": secrets.token_hex(20),
                "name": manifest["name"], "permissions": manifest["default_permissions"],
                "events": manifest.get("default_events", [])})
    return json_response(app, 201)


RULES = [
    Rule("/settings/apps/new", endpoint=new_app_form, methods=["POST"]),
    Rule("/organizations/<org>/settings/apps/new", endpoint=new_app_form, methods=["POST"]),
    Rule("/app-manifests/<code>/conversions", endpoint=convert, methods=["POST"]),
]
