"""GET /runs/<id>: a plain page with a run's status, results and log, behind a signed, expiring link."""

from __future__ import annotations

import re
import time

from flask import Blueprint, abort, current_app, render_template_string, request

from jobs.links import verify_run_link
from jobs.runs import load_run, read_log

bp = Blueprint("runs", __name__)
_RUN_ID = re.compile(r"^[0-9a-f]{16}$")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>codexbot run {{ run.run_id }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{% if not run.is_final %}<meta http-equiv="refresh" content="5">{% endif %}
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:13px}dt{font-weight:600}
.status{font-weight:700}.failed{color:#b42318}.succeeded{color:#067647}</style></head>
<body><h1>Run <code>{{ run.run_id }}</code></h1>
<p class="status {{ run.status }}">{{ run.status }}</p>
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
</dl><h2>Log</h2><pre>{% for line in log %}{{ line }}
{% else %}(nothing yet){% endfor %}</pre></body></html>"""


@bp.get("/runs/<run_id>")
def show_run(run_id: str):
    if not _RUN_ID.match(run_id):
        abort(404, f"there is no run {run_id[:40]!r}")
    settings = current_app.config["CODEXBOT_SETTINGS"]
    problem = verify_run_link(settings.secret_key, run_id, request.args.get("expires"), request.args.get("sig"))
    if problem:
        abort(403, problem)
    conn = current_app.extensions["codexbot.redis"]
    run = load_run(conn, run_id)
    if run is None:
        abort(404, f"run {run_id} does not exist or has expired")
    html = render_template_string(PAGE, run=run, log=read_log(conn, run_id), when=_when)
    return html, 200, {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                       "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""
