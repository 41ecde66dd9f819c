"""POST /webhooks/github: refuse unhandled events by their header, verify, parse, record once, enqueue, answer.

Answered by the front door (bot/webhooks/front.py) before Flask; the blueprint keeps the route known to Flask
(another method is a 405) and mounts the front door when it is registered.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from bot.events.fields import Ignored
from bot.events.github import HANDLED_EVENTS, parse_github_event
from bot.events.github_fields import PAYLOAD
from bot.state import AppState, get_state
from bot.webhooks.delivery import Answer, Delivery, Refused, rules_for
from bot.webhooks.front import Request, answer_webhook, mount
from bot.webhooks.signatures import verify_github_signature

PATH = "/webhooks/github"
bp = Blueprint("github_webhook", __name__)
bp.record_once(lambda setup: mount(setup.app, PATH, receive_github))
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")


def receive_github(state: AppState, req: Request) -> Answer:
    settings = state.settings
    if not settings.github_webhook_secret:
        raise Refused(404, "GitHub webhooks are not enabled: set CODEXBOT_GITHUB_WEBHOOK_SECRET")
    delivery = Delivery(state, "github", req.header("X-GitHub-Delivery"), req.header("X-GitHub-Event"))
    if not _DELIVERY_ID.match(delivery.id) or not _EVENT.match(delivery.event):
        delivery.reject(400, "missing headers", "X-GitHub-Event and X-GitHub-Delivery headers are required")
    if delivery.event not in HANDLED_EVENTS:  # most of an App's traffic (push, check_run, …): nothing to verify or do
        return delivery.answer(200, {"ignored": f"{delivery.event} is not acted on"})
    body = req.body()  # over MAX_WEBHOOK_BYTES: 413 before the body is read
    if not verify_github_signature(body, req.header("X-Hub-Signature-256"), settings.github_webhook_secret):
        delivery.reject(401, "bad signature", "X-Hub-Signature-256 is missing or does not match: check the webhook secret")
    payload = delivery.json_body(body, req.content_type, PAYLOAD)
    result = delivery.parse(parse_github_event, payload, rules_for(settings, settings.github_bot_login))
    if isinstance(result, Ignored):
        return delivery.answer(200, {"ignored": result.reason})
    if result.installation_id is None:
        reason = "no installation in the delivery: install codexbot as a GitHub App instead of a repository webhook"
        return delivery.answer(200, {"ignored": reason})
    return delivery.accept(result, settings)


@bp.post(PATH)
def receive_github_in_flask():
    """Reached only when the front door is not in front (an app whose wsgi_app was replaced after it)."""
    answer = answer_webhook(receive_github, get_state(), request.environ)
    return Response(answer.body, answer.status, content_type=answer.content_type)
