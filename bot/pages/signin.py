"""Sign in with GitHub or GitLab (OAuth authorization-code flow with `state`), and sign out."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for

from bot.pages.access import check_csrf, csrf_token, current_viewer, fail
from bot.pages.run import HEADERS
from bot.pages.viewers import sessions
from jobs.access.viewers import ViewerAuthError, authorize_url, exchange_code
from bot.state import get_settings

bp = Blueprint("signin", __name__)
FORGES = ("github", "gitlab")


def configured_forges(settings) -> list[str]:
    return [forge for forge in FORGES if getattr(settings, f"{forge}_client_id") and getattr(settings, f"{forge}_client_secret")]


def _redirect_uri(forge: str) -> str:
    settings = get_settings()
    return f"{settings.public_url.rstrip('/')}/signin/{forge}/callback"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if (target and target.startswith("/") and not target.startswith(("//", "/\\"))
            and not any(c.isspace() or ord(c) < 32 or c == "\\" for c in target)
            and not urlsplit(target).scheme and not urlsplit(target).netloc):
        return target  # browsers drop tabs and newlines, so "/\t/evil.com" would become "//evil.com"
    return url_for("history.list_runs")


@bp.get("/signin")
def choose():
    settings = get_settings()
    forges = configured_forges(settings)
    viewer = current_viewer()
    html = render_template("signin.html", forges=forges, next=_safe_next(request.args.get("next")),
                           viewer=viewer, csrf=csrf_token() if viewer else "")
    return html, 200, HEADERS


@bp.get("/signin/<forge>")
def start(forge: str):
    settings = get_settings()
    if forge not in configured_forges(settings):
        fail(404, f"signing in with {forge[:20]} is not set up here: an operator sets CODEXBOT_{forge[:20].upper()}_CLIENT_ID and _CLIENT_SECRET")
    state = secrets.token_urlsafe(24)
    session["oauth"] = {"state": state, "forge": forge, "next": _safe_next(request.args.get("next"))}
    return redirect(authorize_url(settings, forge, _redirect_uri(forge), state))


@bp.get("/signin/<forge>/callback")
def callback(forge: str):
    pending = session.pop("oauth", None)
    sent = request.args.get("state", "")
    if not pending or pending.get("forge") != forge or not hmac.compare_digest(sent.encode(), pending["state"].encode()):
        fail(400, "this sign-in did not start here or has already been used: start again from the sign-in page")
    if "code" not in request.args:
        fail(400, f"{forge} did not authorize the sign-in ({request.args.get('error', 'no code')[:80]}): try again")
    settings = get_settings()
    try:
        token, login = exchange_code(settings, forge, request.args["code"], _redirect_uri(forge))
    except ViewerAuthError as exc:
        fail(502, str(exc))
    session.clear()  # a fresh session: nothing from before sign-in carries over
    session.permanent = True
    session["viewer"] = {"forge": forge, "login": login, "sid": sessions().start(token)}
    return redirect(pending["next"])


@bp.post("/signout")
def sign_out():
    check_csrf()
    viewer = current_viewer()
    if viewer is not None:
        sessions().end(viewer.sid)
    session.clear()
    return redirect(url_for("signin.choose"))
