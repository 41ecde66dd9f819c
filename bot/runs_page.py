"""GET /runs/<id>: a plain page with a run's status, results and log, behind a signed, expiring link."""

from __future__ import annotations

import re
import time

from flask import Blueprint, Response, abort, current_app, render_template_string, request, url_for

from jobs.links import verify_run_link
from jobs.runs import load_run, read_log

bp = Blueprint("runs", __name__)
_RUN_ID = re.compile(r"^[0-9a-f]{16}$")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>codexbot run {{ run.run_id }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:13px}dt{font-weight:600}
.status{font-weight:700}.failed{color:#b42318}.succeeded{color:#067647}</style></head>
<body><h1>Run <code>{{ run.run_id }}</code></h1>
<p id="status" class="status {{ run.status }}">{{ run.status }}</p>
<dl><dt>Repository</dt><dd>{{ run.repo }} #{{ run.number }}{% if run.trigger.url %} (<a href="{{ run.trigger.url }}">request</a>){% endif %}</dd>
<dt>Requested by</dt><dd>{{ run.requester }}</dd>
<dt>Created</dt><dd>{{ when(run.created_at) }}</dd>
{% if run.started_at %}<dt>Started</dt><dd>{{ when(run.started_at) }}</dd>{% endif %}
{% if run.finished_at %}<dt>Finished</dt><dd>{{ when(run.finished_at) }} ({{ "%.1f"|format(run.finished_at - run.started_at) }} s)</dd>{% endif %}
{% if run.branch %}<dt>Branch</dt><dd><code>{{ run.branch }}</code></dd>{% endif %}
{% if run.pr_url %}<dt>Pull request</dt><dd><a href="{{ run.pr_url }}">{{ run.pr_url }}</a></dd>{% endif %}
{% if run.error %}<dt>What went wrong</dt><dd>{{ run.error }}</dd>{% endif %}
{% if run.summary %}<dt>Summary</dt><dd><pre>{{ run.summary }}</pre></dd>{% endif %}
{% if run.tests %}<dt>Tests</dt><dd>{{ run.tests.passed }} passed, {{ run.tests.failed }} failed
(exit {{ run.tests.exit_code }}, <code>{{ run.tests.command }}</code>)<pre>{{ run.tests.output }}</pre></dd>{% endif %}
</dl><h2>Log</h2><pre id="log" data-lines="{{ log|length }}"{% if not run.is_final %} data-stream="{{ stream }}"{% endif %}>{% for line in log %}{{ line }}
{% endfor %}</pre><script src="{{ url_for('static', filename='run.js') }}"></script></body></html>"""


HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'"}
STREAM_SECONDS = 25  # then the browser reconnects: a sync web worker is never held for long
POLL_SECONDS = 0.5


def _authorized_run(run_id: str):
    """The run, when the request carries a valid signed link for it; 403/404 otherwise."""
    if not _RUN_ID.match(run_id):
        abort(404, f"there is no run {run_id[:40]!r}")
    settings = current_app.config["CODEXBOT_SETTINGS"]
    problem = verify_run_link(settings.secret_key, run_id, request.args.get("expires"), request.args.get("sig"))
    if problem:
        abort(403, problem)
    run = load_run(current_app.extensions["codexbot.redis"], run_id)
    if run is None:
        abort(404, f"run {run_id} does not exist or has expired")
    return run


@bp.get("/runs/<run_id>")
def show_run(run_id: str):
    run = _authorized_run(run_id)
    conn = current_app.extensions["codexbot.redis"]
    stream = url_for("runs.stream_log", run_id=run_id, expires=request.args["expires"], sig=request.args["sig"])
    html = render_template_string(PAGE, run=run, log=read_log(conn, run_id), when=_when, stream=stream)
    return html, 200, HEADERS


@bp.get("/runs/<run_id>/log")
def stream_log(run_id: str):
    """Server-Sent Events: one event per log line, its index as the id; `end` once the run is over."""
    _authorized_run(run_id)
    conn = current_app.extensions["codexbot.redis"]
    start = request.headers.get("Last-Event-ID", type=int)
    start = start + 1 if start is not None else request.args.get("from", 0, type=int)
    return Response(_events(conn, run_id, max(start, 0)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _events(conn, run_id: str, index: int):
    deadline = time.monotonic() + STREAM_SECONDS
    yield "retry: 1000\n\n"
    while time.monotonic() < deadline:
        for line in read_log(conn, run_id, index):
            yield f"id: {index}\ndata: {_one_line(line)}\n\n"
            index += 1
        run = load_run(conn, run_id)
        if run is None or run.is_final:
            if not read_log(conn, run_id, index):
                yield f"event: end\ndata: {run.status if run else 'gone'}\n\n"
                return
            continue
        time.sleep(POLL_SECONDS)


def _one_line(text: str) -> str:
    """A multi-line log entry as one event: every line of it gets its own `data:` field."""
    return text.replace("\r", "").replace("\n", "\ndata: ")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""
