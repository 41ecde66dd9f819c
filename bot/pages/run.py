"""GET /runs/<id>: a run's status, timeline, transcript, tests, diff and live log; cancel and retry buttons."""

from __future__ import annotations

import time

from flask import Blueprint, Response, redirect, render_template, request, url_for

from bot.pages import render
from bot.pages.access import authorized_run, can_write, check_csrf, csrf_token, current_viewer, fail, link_args
from jobs.intake.rate_limits import RateLimits
from jobs.intake.page_actions import ActionRefused, cancel_run, retry_run
from jobs.records.parts import RunParts, timeline
from jobs.records.runs import load_run
from bot.state import get_queues, get_redis, get_run_waker, get_settings, get_stream_slots
from bot.streams import RunWaker

bp = Blueprint("runs", __name__)

HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; "
                                      "connect-src 'self'; form-action 'self'; frame-ancestors 'none'"}
NOTICES = {"cancel": "cancel requested: the run stops after its current step"}  # never text from the URL itself
STREAM_SECONDS = 25  # then the browser reconnects: a slot is never held for long
HEARTBEAT_SECONDS = 2  # with no new line, a comment this often notices a browser that left
RETRY_AFTER = 2  # seconds between a page's polls when its live log was refused


def _parts(run_id: str) -> RunParts:
    settings = get_settings()
    return RunParts(get_redis(), settings.data_dir, run_id)


@bp.get("/runs/<run_id>")
def show_run(run_id: str):
    run = authorized_run(run_id)
    parts, viewer = _parts(run_id), current_viewer()
    steps = timeline(parts.phases(), run.created_at, run.finished_at if run.is_final else None, time.time())
    diff = parts.diff()
    html = render_template(
        "run.html", run=run, log=parts.log(), when=render.when, duration=render.duration,
        stream=url_for("runs.stream_log", run_id=run_id, **(link_args() or {})),
        timeline=steps, longest=max([s["seconds"] for s in steps] + [0.001]),
        steps=render.transcript_steps(parts.transcript()), diff=render.highlighted_diff(diff) if diff else "",
        diff_css=render.diff_styles(), viewer=viewer, csrf=csrf_token() if viewer else "",
        can_act=can_write(viewer, run.trigger.get("forge", ""), run.repo),
        notice=NOTICES.get(request.args.get("notice", ""), ""))
    return html, 200, HEADERS


@bp.post("/runs/<run_id>/cancel", endpoint="cancel_run")
def cancel(run_id: str):
    run, viewer = _writer_only(run_id)
    try:
        cancel_run(get_redis(), run.run_id, viewer.login)
    except ActionRefused as exc:
        fail(409, str(exc))
    return redirect(url_for("runs.show_run", run_id=run_id, notice="cancel"), 303)


@bp.post("/runs/<run_id>/retry", endpoint="retry_run")
def retry(run_id: str):
    run, viewer = _writer_only(run_id)
    settings = get_settings()
    try:
        intake = retry_run(get_queues()["runs"], run.run_id, viewer.login,
                           settings.job_timeout, slots=settings.repo_concurrency,
                           limits=RateLimits.from_settings(settings))
    except ActionRefused as exc:
        fail(409, str(exc))
    if intake.limited:
        fail(429, "you are over codexbot's rate limit (CODEXBOT_RATE_LIMIT_USER / _REPO runs per hour): try again later")
    return redirect(url_for("runs.show_run", run_id=intake.run_id), 303)


def _writer_only(run_id: str):
    """POSTs need a signed-in viewer with write access and the form's CSRF token; a signed link is not enough."""
    check_csrf()
    run, viewer = authorized_run(run_id), current_viewer()
    if not can_write(viewer, run.trigger.get("forge", ""), run.repo):
        fail(403, "cancel and retry need signing in with an account that has write access to the repository")
    return run, viewer


@bp.get("/runs/<run_id>/log")
def stream_log(run_id: str):
    """Server-Sent Events: one event per log line, its index as the id; `end` once the run is over.

    Asked for JSON (the page does so after a 503), it answers at once with the lines there are now.
    """
    authorized_run(run_id)
    start = request.headers.get("Last-Event-ID", type=int)
    start = max(start + 1 if start is not None else request.args.get("from", 0, type=int), 0)
    conn, data_dir = get_redis(), get_settings().data_dir
    if request.accept_mimetypes.best == "application/json":
        return _log_now(conn, data_dir, run_id, start)
    slots, client = get_stream_slots(), request.remote_addr or ""
    if not slots.take(client):
        return ("too many live logs are open here: the page shows new lines every few seconds instead\n", 503,
                {"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store", "Content-Type": "text/plain; charset=utf-8"})
    response = Response(_events(conn, data_dir, run_id, start, get_run_waker()), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(slots.releaser(client))  # the WSGI server closes every response, even one never read
    return response


def _log_now(conn, data_dir, run_id: str, start: int):
    run = load_run(conn, run_id)  # before the lines: once a run is over, all its lines are written
    lines = RunParts(conn, data_dir, run_id).log(start)
    final = run is None or run.is_final
    return {"lines": lines, "next": start + len(lines), "status": run.status if run else "gone", "final": final}, 200, \
        {"Cache-Control": "no-store"}


def _events(conn, data_dir, run_id: str, index: int, waker: RunWaker):
    deadline = time.monotonic() + STREAM_SECONDS
    yield "retry: 1000\n\n"
    with waker.watching(run_id):
        while True:
            seen = waker.version(run_id)
            run = load_run(conn, run_id)  # before the lines: once a run is over, all its lines are written
            for line in RunParts(conn, data_dir, run_id).log(index):  # fresh: the run may be archived meanwhile
                yield f"id: {index}\ndata: {_one_line(line)}\n\n"
                index += 1
            if run is None or run.is_final:
                yield f"event: end\ndata: {run.status if run else 'gone'}\n\n"
                return
            if time.monotonic() >= deadline:
                return
            yield ":\n\n"  # a comment line: a browser that left is noticed now, not at the deadline
            waker.wait(run_id, seen, min(HEARTBEAT_SECONDS, deadline - time.monotonic()))


def _one_line(text: str) -> str:
    """A multi-line log entry as one event: every line of it gets its own `data:` field."""
    return text.replace("\r", "").replace("\n", "\ndata: ")
