"""POST /webhooks/github: refuse unhandled events by their header, verify, parse, record once, enqueue, answer."""

from __future__ import annotations

import re

from flask import Blueprint, abort, request

from bot.events.fields import Ignored
from bot.events.github import HANDLED_EVENTS, parse_github_event
from bot.webhooks.signatures import verify_github_signature
from bot.webhooks.delivery import Delivery, rules_for
from jobs.settings import Settings
from bot.state import get_settings

bp = Blueprint("github_webhook", __name__)
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")


@bp.post("/webhooks/github")
def receive_github():
    settings: Settings = get_settings()
    if not settings.github_webhook_secret:
        abort(404, "GitHub webhooks are not enabled: set CODEXBOT_GITHUB_WEBHOOK_SECRET")
    delivery = Delivery("github", request.headers.get("X-GitHub-Delivery", ""), request.headers.get("X-GitHub-Event", ""))
    if not _DELIVERY_ID.match(delivery.id) or not _EVENT.match(delivery.event):
        delivery.reject(400, "missing headers", "X-GitHub-Event and X-GitHub-Delivery headers are required")
    if delivery.event not in HANDLED_EVENTS:  # most of an App's traffic (push, check_run, …): nothing to verify or do
        return delivery.answer(200, {"ignored": f"{delivery.event} is not acted on"})
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: 413 before the body is read
    if not verify_github_signature(body, request.headers.get("X-Hub-Signature-256"), settings.github_webhook_secret):
        delivery.reject(401, "bad signature", "X-Hub-Signature-256 is missing or does not match: check the webhook secret")
    result = delivery.parse(parse_github_event, delivery.json_body(body), rules_for(settings, settings.github_bot_login))
    if isinstance(result, Ignored):
        return delivery.answer(200, {"ignored": result.reason})
    if result.installation_id is None:
        reason = "no installation in the delivery: install codexbot as a GitHub App instead of a repository webhook"
        return delivery.answer(200, {"ignored": reason})
    return delivery.accept(result, settings)
