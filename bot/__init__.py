"""codexbot's front door: the Flask app that verifies, parses, records and enqueues, then answers.

The features it composes: webhooks/ (GitHub, GitLab), api/ (the JSON API), pages/ (run pages, run list,
sign-in), ops/ (health, metrics, the queue dashboard). Their shared objects live in state.py.
"""

from __future__ import annotations

import redis
from flask import Flask
from werkzeug.exceptions import HTTPException

from bot import api
from bot.ops import health, metrics
from bot.ops.queue_dashboard import mount_dashboard
from bot.pages import run, runs, signin
from bot.pages.sessions import configure_sessions
from bot.state import init_app
from bot.webhooks import github, gitlab
from jobs.records.schema import SchemaError, check_readable
from jobs.settings import MAX_WEBHOOK_BYTES, Settings, SettingsError, load_settings

def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app; settings come from the environment unless given (tests pass their own)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_WEBHOOK_BYTES
    configure_sessions(app, settings)
    state = init_app(app, settings)
    _check_schema(state.redis)

    app.register_blueprint(health.bp)
    app.register_blueprint(run.bp)
    app.register_blueprint(runs.bp)
    app.register_blueprint(signin.bp)
    mount_dashboard(app, settings)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(github.bp)
    app.register_blueprint(gitlab.bp)
    app.register_blueprint(api.bp)
    app.register_error_handler(HTTPException, _plain_error)
    return app


def _check_schema(conn: redis.Redis) -> None:
    """Refuse data written by a newer release; stamp a fresh Redis, so records it accepts are known current."""
    try:
        check_readable(conn)
    except redis.RedisError:
        pass  # Redis may come up later: /healthz and the webhooks answer 503 until it does
    except SchemaError as exc:
        raise SettingsError(str(exc)) from None


def _plain_error(exc: HTTPException):
    """Errors answer with one line of plain text saying what was wrong."""
    message = exc.description if isinstance(exc.description, str) else exc.name
    return f"{message.splitlines()[0] if message else exc.name}\n", exc.code, {"Content-Type": "text/plain; charset=utf-8"}
