"""The authorization-code store both forge emulators' OAuth web flows hand codes out of and redeem them from."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from werkzeug.utils import redirect
from werkzeug.wrappers import Response

CODE_LIFETIME = 600


class OAuthApps:
    """Registered OAuth clients, codes handed out, and who is signed in at the browser."""

    def __init__(self):
        self.clients: dict[str, str] = {}  # client id -> secret
        self.codes: dict[str, dict] = {}
        self.signed_in: str | None = None


def oauth(emu) -> OAuthApps:
    if not hasattr(emu, "oauth"):
        emu.oauth = OAuthApps()
    return emu.oauth


def register_client(emu, client_id: str, client_secret: str) -> None:
    oauth(emu).clients[client_id] = client_secret


def sign_in_as(emu, user: str | None) -> None:
    oauth(emu).signed_in = user


def redirect_with_code(apps: OAuthApps, args, nbytes: int, **grant) -> Response:
    """Hand the signed-in user a code for the client in `args` and send the browser back with it."""
    code = secrets.token_hex(nbytes)
    apps.codes[code] = {"user": apps.signed_in, "client_id": args["client_id"],
                        "expires": time.time() + CODE_LIFETIME, **grant}
    return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args.get('state', '')})}")


def client_authenticated(apps: OAuthApps, body: dict) -> bool:
    secret = body.get("client_secret")
    return bool(secret) and apps.clients.get(body.get("client_id")) == secret


def redeem_code(apps: OAuthApps, body: dict) -> dict | None:
    """The grant behind the code in `body`, used up; None when it is unknown or expired."""
    grant = apps.codes.pop(body.get("code", ""), None)
    if grant is None or grant["expires"] < time.time():
        return None
    return grant
