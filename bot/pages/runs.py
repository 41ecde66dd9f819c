"""GET /runs: the runs a signed-in viewer may see, newest first, filtered, counted and charted."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from bot.pages import render
from bot.pages.access import can_read, csrf_token, is_admin, require_reader
from bot.pages.chart import runs_chart
from bot.pages.run import HEADERS
from jobs.records.query import Filters, find_runs, summarize
from jobs.records.runs import STATUSES
from bot.state import get_redis, get_settings

bp = Blueprint("history", __name__)
MAX_REPOS_CHECKED = 50  # distinct repositories whose permission one request may look up


@bp.get("/runs")
def list_runs():
    viewer = require_reader("", "")
    settings, conn = get_settings(), get_redis()
    filters = Filters(request.args.get("repo", "").strip()[:200], _status(request.args.get("status", "")),
                      request.args.get("requester", "").strip()[:100])
    visible = _visibility(viewer, is_admin(viewer, settings))
    page = find_runs(conn, filters, visible, before=request.args.get("before", type=float))
    summary = summarize(conn, filters, visible)
    html = render_template("runs.html", page=page, summary=summary, filters=filters, statuses=STATUSES,
                           chart=runs_chart(summary.days), viewer=viewer, csrf=csrf_token(),
                           when=render.when, duration=render.duration)
    return html, 200, HEADERS


def _status(value: str) -> str:
    return value if value in STATUSES else ""


def _visibility(viewer, admin: bool):
    """Whether the viewer may see a run: operators see all; others, repositories they can read (asked once each)."""
    known: dict[tuple[str, str], bool] = {}

    def visible(run) -> bool:
        if admin:
            return True
        key = (run.trigger.get("forge", "github"), run.repo)
        if key not in known:
            known[key] = len(known) < MAX_REPOS_CHECKED and can_read(viewer, *key)
        return known[key]
    return visible
