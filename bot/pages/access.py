"""Who may see a run page: a signed, expiring link, or a signed-in viewer who can read the repository."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

from flask import abort, make_response, render_template, request, session

from bot.pages.viewers import permission_of
from bot.state import get_redis, get_settings
from jobs.access.links import verify_run_link
from jobs.access.viewers import ViewerAuthError
from jobs.records.runs import Run, load_run

RUN_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class Viewer:
    forge: str  # "github" or "gitlab"
    login: str
    sid: str  # the server-side session holding the viewer's OAuth token


def current_viewer() -> Viewer | None:
    data = session.get("viewer")
    if not isinstance(data, dict) or not {"forge", "login", "sid"} <= set(data):
        return None
    return Viewer(data["forge"], data["login"], data["sid"])


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    sent, kept = request.form.get("csrf", ""), session.get("csrf", "")
    if not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
        fail(403, "the form has expired or did not come from this site: reload the page and try again")


def fail(code: int, message: str):
    """Stop with an HTML page that says what happened and what to do."""
    page = render_template("error.html", code=code, message=message, viewer=current_viewer())
    abort(make_response(page, code, {"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}))


def link_args() -> dict[str, str] | None:
    """The signed link's query (expires, sig) when the request carries one."""
    if "sig" in request.args or "expires" in request.args:
        return {"expires": request.args.get("expires", ""), "sig": request.args.get("sig", "")}
    return None


def authorized_run(run_id: str) -> Run:
    """The run when the request may see it: a valid signed link, or a viewer who can read its repository."""
    if not RUN_ID.match(run_id):
        fail(404, f"there is no run {run_id[:40]!r}: check the link")
    settings = get_settings()
    args = link_args()
    problem = verify_run_link(settings.secret_key, run_id, args["expires"], args["sig"]) if args else "no link"
    if problem and args is not None and current_viewer() is None:
        fail(403, problem)  # a signed-in reader may still follow an old link
    run = load_run(get_redis(), run_id)
    if problem:
        require_reader(run.repo if run else "", run.trigger.get("forge", "github") if run else "")
    if run is None:
        fail(404, f"run {run_id} does not exist or has expired")
    return run


def require_reader(repo: str, forge: str) -> Viewer:
    """The signed-in viewer when they can read repo; otherwise a page that says how to get in."""
    viewer = current_viewer()
    if viewer is None:
        fail(403, "this page needs the signed link posted on the issue or pull request, or signing in")
    if repo and not can_read(viewer, forge, repo):
        fail(404, f"there is no run here that {viewer.login} may see: sign in with an account that can read the repository")
    return viewer


def can_read(viewer: Viewer, forge: str, repo: str) -> bool:
    return viewer.forge == forge and _permission(viewer, repo) in ("read", "triage", "write", "maintain", "admin")


def can_write(viewer: Viewer | None, forge: str, repo: str) -> bool:
    if viewer is None or viewer.forge != forge:
        return False
    return _permission(viewer, repo) in ("write", "maintain", "admin")


def _permission(viewer: Viewer, repo: str) -> str:
    try:
        return permission_of(viewer, repo)
    except ViewerAuthError as exc:
        fail(502, str(exc))


def is_admin(viewer: Viewer | None, settings) -> bool:
    """Operators named in CODEXBOT_ADMINS, as `login` (GitHub) or `gitlab:login`."""
    if viewer is None:
        return False
    names = {name.lower() for name in settings.admins}
    login = viewer.login.lower()
    return (viewer.forge == "github" and login in names) or f"{viewer.forge}:{login}" in names
