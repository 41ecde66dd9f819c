"""POST /webhooks/github: verify, parse, record once, enqueue, and answer within milliseconds."""

from __future__ import annotations

import json
import logging
import re
import time

import redis
from flask import Blueprint, Response, abort, current_app, request

from bot.github_events import Ignored, PayloadError, Rules, parse_github_event
from bot.logs import elapsed_ms, log_event
from bot.signatures import verify_github_signature
from jobs.intake import accept_trigger
from jobs.settings import Settings

bp = Blueprint("github_webhook", __name__)
log = logging.getLogger("codexbot.webhook.github")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")


@bp.post("/webhooks/github")
def receive_github():
    started = time.perf_counter()
    settings: Settings = current_app.config["CODEXBOT_SETTINGS"]
    if not settings.github_webhook_secret:
        abort(404, "GitHub webhooks are not enabled: set CODEXBOT_GITHUB_WEBHOOK_SECRET")
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: 413 before the body is read
    delivery = request.headers.get("X-GitHub-Delivery", "")
    event = request.headers.get("X-GitHub-Event", "")
    if not verify_github_signature(body, request.headers.get("X-Hub-Signature-256"), settings.github_webhook_secret):
        _log(started, delivery, event, 401, "bad signature")
        abort(401, "X-Hub-Signature-256 is missing or does not match: check the webhook secret")
    if not _DELIVERY_ID.match(delivery) or not _EVENT.match(event):
        _log(started, delivery, event, 400, "missing headers")
        abort(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
    payload = _parse_body(body)
    try:
        result = parse_github_event(event, payload, _rules(settings))
    except PayloadError as exc:
        _log(started, delivery, event, 400, str(exc))
        abort(400, f"malformed {event} payload: {exc}")
    if isinstance(result, Ignored):
        return _answer(started, delivery, event, 200, {"ignored": result.reason})
    if result.installation_id is None:
        reason = "no installation in the delivery: install codexbot as a GitHub App instead of a repository webhook"
        return _answer(started, delivery, event, 200, {"ignored": reason})
    try:
        intake = accept_trigger(current_app.extensions["codexbot.queue"], result, delivery,
                                job_timeout=settings.job_timeout)
    except redis.RedisError as exc:
        _log(started, delivery, event, 503, f"not recorded: {type(exc).__name__}")
        abort(503, "the delivery could not be recorded (Redis is unavailable); please redeliver")
    if intake.duplicate:
        return _answer(started, delivery, event, 200, {"duplicate": True, "run_id": intake.run_id})
    return _answer(started, delivery, event, 202, {"run_id": intake.run_id, "command": result.command.kind},
                   repo=result.repo, number=result.number, author=result.author)


def _parse_body(body: bytes) -> dict:
    if request.mimetype == "application/x-www-form-urlencoded":
        abort(400, "the webhook sends form data: set its content type to application/json")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        abort(400, "the body is not valid JSON")
    if not isinstance(payload, dict):
        abort(400, "the body is not a JSON object")
    return payload


def _rules(settings: Settings) -> Rules:
    logins = {settings.github_bot_login.casefold()} if settings.github_bot_login else set()
    return Rules(command=settings.command, label=settings.label, bot_logins=frozenset(logins))


def _answer(started: float, delivery: str, event: str, status: int, body: dict, **fields):
    _log(started, delivery, event, status, body.get("ignored", "accepted"), run_id=body.get("run_id"), **fields)
    return Response(json.dumps(body) + "\n", status, mimetype="application/json")


def _log(started: float, delivery: str, event: str, status: int, outcome: str, **fields) -> None:
    log_event(log, "delivery", forge="github", delivery=delivery[:128], event=event[:64], status=status,
              outcome=outcome, ms=elapsed_ms(started), **fields)
