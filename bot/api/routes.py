"""The /api/runs endpoints: delegate a task, list runs, read one's status, log and diff, cancel it."""

from __future__ import annotations

import re
import time

import redis
from flask import abort, jsonify, request

from bot.api.blueprint import bp
from bot.api.auth import current_token, error, token_required
from bot.api.delegate_body import BodyError, DelegateRequest, parse_delegate_body
from jobs.records import delegated
from jobs.records import runs
from jobs.intake.accept import accept_trigger
from jobs.access.links import sign_run_link
from jobs.intake.rate_limits import RateLimits
from jobs.records.parts import RunParts
from jobs.types import Command, Delegation, Trigger
from bot.state import get_queues, get_redis, get_run_waker, get_settings, get_stream_slots

MAX_WAIT = 25  # seconds a log request may wait for new lines: under common proxies' 30 s idle limit
MAX_LINE = 999_999_999
REFUSED_RETRY_AFTER = 2  # seconds: a long-poll over the cap was answered at once


def _settings():
    return get_settings()


def _conn() -> redis.Redis:
    return get_redis()


def run_json(run: runs.Run) -> dict:
    settings = _settings()
    return {"id": run.run_id, "status": run.status, "forge": run.trigger.get("forge", ""), "repository": run.repo,
            "task": run.trigger.get("title", ""), "requester": run.requester, "created_at": run.created_at,
            "started_at": run.started_at, "finished_at": run.finished_at, "summary": run.summary,
            "error": run.error or None, "tests": run.tests or None, "usage": run.usage or None, "pr_url": run.pr_url,
            "url": sign_run_link(settings.public_url, settings.secret_key, run.run_id)}


def _trigger(body: DelegateRequest, user: str, token_id: str) -> Trigger:
    title = body.task.splitlines()[0][:100]
    return Trigger(forge=body.forge, event="api", source="api", repo=body.repository, repo_id=0, number=0,
                   is_pull_request=False, title=title, author=user, installation_id=None,
                   command=Command("task", text=body.task, model=body.model),
                   delegation=Delegation(body.base_commit, body.diff, token_id, body.remote_url, body.pull_request))


@bp.post("/runs")
@token_required
def create_run():
    token = current_token()
    try:
        body = parse_delegate_body(request.get_json(silent=True), _settings().max_diff_bytes)
    except BodyError as exc:
        return error(400, str(exc))
    if not token.allows(body.forge, body.repository):
        return error(403, f"this token may not start runs on {body.forge}:{body.repository}; "
                          "create one with `codexbot token create --repo` for it")
    queue = get_queues()["runs"]
    try:
        intake = accept_trigger(queue, _trigger(body, token.user, token.token_id),
                                f"api:{token.token_id}:{body.request_id}", job_timeout=_settings().job_timeout,
                                limits=RateLimits.from_settings(_settings()), slots=_settings().repo_concurrency)
        if intake.limited:
            return error(429, "you are over codexbot's rate limit (CODEXBOT_RATE_LIMIT_USER / _REPO runs per "
                              "hour): try again later")
        delegated.index_run(_conn(), token.user, intake.run_id, time.time())
        run = runs.load_run(_conn(), intake.run_id)
    except redis.RedisError:
        return error(503, "the server could not record the run (Redis is unavailable): try again shortly")
    answer = jsonify({**run_json(run), "duplicate": intake.duplicate})
    answer.status_code = 200 if intake.duplicate else 202
    return answer


@bp.get("/runs")
@token_required
def list_runs():
    token, conn = current_token(), _conn()
    found = runs.load_runs(conn, delegated.user_runs(conn, token.user))  # one round trip, not one per run
    visible = [r for r in found if token.allows(r.trigger.get("forge", ""), r.repo)]
    return jsonify({"runs": [run_json(r) for r in visible]})


def _own_run(run_id: str) -> runs.Run:
    """The run if this token's user delegated it on a repository the token covers; else the answer is a 404."""
    token = current_token()
    run = runs.load_run(_conn(), run_id) if len(run_id) <= 64 else None
    if (run is None or run.requester != token.user or run.trigger.get("source") != "api"
            or not token.allows(run.trigger.get("forge", ""), run.repo)):
        abort(error(404, f"there is no run {run_id} for this token: `codexbot runs` lists yours"))
    return run


@bp.get("/runs/<run_id>")
@token_required
def show_run(run_id: str):
    return jsonify(run_json(_own_run(run_id)))


@bp.get("/runs/<run_id>/log")
@token_required
def run_log(run_id: str):
    _own_run(run_id)  # a 404 unless the run is this token's
    start, wait = request.args.get("from", "0"), request.args.get("wait", "0")
    if not re.fullmatch(r"[0-9]{1,9}", start) or not re.fullmatch(r"[0-9]{1,2}", wait) or int(wait) > MAX_WAIT:
        return error(400, f"from must be a line number (0 to {MAX_LINE}) and wait 0 to {MAX_WAIT} seconds")
    lines, refused = _wait_for_lines(run_id, int(start), int(wait))
    run = runs.load_run(_conn(), run_id)
    if run is None:
        return error(404, f"run {run_id} was removed while its log was read")
    answer = jsonify({"lines": lines, "next": int(start) + len(lines), "status": run.status, "final": run.is_final})
    if refused:
        answer.headers["Retry-After"] = str(REFUSED_RETRY_AFTER)  # it could not wait: ask again after this
    return answer


def _wait_for_lines(run_id: str, start: int, wait: int) -> tuple[list[str], bool]:
    """Long-poll: the lines from start, waiting up to wait seconds for some while the run goes on.

    Waiting holds a thread, so only within the process's cap of long-lived requests; over it, the answer is what
    there is now (True: it was refused a wait), and the client asks again after Retry-After.
    """
    slots, client = get_stream_slots(), request.remote_addr or ""
    if wait <= 0 or not slots.take(client):
        return RunParts(_conn(), _settings().data_dir, run_id).log(start), wait > 0
    try:
        return _wait_in_slot(run_id, start, time.monotonic() + wait, get_run_waker()), False
    finally:
        slots.give_back(client)


def _wait_in_slot(run_id: str, start: int, deadline: float, waker) -> list[str]:
    with waker.watching(run_id):
        while True:
            seen = waker.version(run_id)
            run = runs.load_run(_conn(), run_id)  # before the lines: once a run is over, all its lines are written
            lines = RunParts(_conn(), _settings().data_dir, run_id).log(start)
            if lines or run is None or run.is_final or time.monotonic() >= deadline:
                return lines
            waker.wait(run_id, seen, deadline - time.monotonic())


@bp.post("/runs/<run_id>/cancel")
@token_required
def cancel_run(run_id: str):
    run = _own_run(run_id)
    if run.is_final:
        return error(409, f"run {run_id} has already ended ({run.status}); there is nothing to cancel")
    runs.request_cancel(_conn(), run_id, current_token().user)
    answer = jsonify({**run_json(run), "cancel_requested": True})
    answer.status_code = 202
    return answer


@bp.get("/runs/<run_id>/diff")
@token_required
def run_diff(run_id: str):
    run = _own_run(run_id)
    result = delegated.load_result(_conn(), run_id)
    if result is None:
        why = f"it is {run.status}" if not run.is_final else f"it {run.status}" + (f": {run.error}" if run.error else "")
        return error(409, f"run {run_id} has no change to apply: {why}")
    return jsonify({"id": run_id, "status": run.status, **result})
