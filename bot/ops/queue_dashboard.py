"""rq-dashboard at /rq, for operators only (CODEXBOT_ADMINS): the queues, workers and failed jobs as RQ sees them."""

from __future__ import annotations

from flask import Flask, redirect, request, url_for

from bot.pages.access import current_viewer, fail, is_admin
from jobs.settings import Settings
from bot.state import get_settings

PREFIX = "/rq"


def mount_dashboard(app: Flask, settings: Settings) -> None:
    """Register rq-dashboard's blueprint behind sign-in; without the package, /rq says what to install."""
    try:
        import rq_dashboard
        from rq.serializers import JSONSerializer
        from rq_dashboard.web import config as dashboard_config, setup_rq_connection
    except ImportError as exc:
        missing = exc.name or "rq-dashboard"
        app.add_url_rule(PREFIX + "/", "rq_dashboard_missing", lambda: fail(
            503, f"the queue dashboard needs the Python package {missing}: install it where the web server runs"))
        return
    dashboard_config.serializer = JSONSerializer  # codexbot's jobs are JSON, never pickle
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)
    app.before_request(_operators_only)


def _operators_only():
    if request.blueprint != "rq_dashboard":
        return None
    viewer = current_viewer()
    if viewer is None:
        return redirect(url_for("signin.choose", next=request.full_path))
    if not is_admin(viewer, get_settings()):
        fail(403, f"the queue dashboard is for operators: ask one to add {viewer.login} to CODEXBOT_ADMINS")
    return None
