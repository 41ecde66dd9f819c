"""POST /webhooks/gitlab: check the hook token, parse, record once, enqueue, and answer within milliseconds.

GitLab disables a hook after repeated failures or timeouts, so this path stays as small as GitHub's.
"""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, abort, request

from bot.events.fields import Ignored
from bot.events.gitlab import parse_gitlab_event
from bot.webhooks.signatures import verify_shared_token
from bot.webhooks.delivery import Delivery, rules_for
from jobs.settings import Settings
from bot.state import get_settings

bp = Blueprint("gitlab_webhook", __name__)
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EVENT = re.compile(r"^[A-Za-z ]{1,64}$")


def delivery_id(headers, body: bytes) -> str:
    """Idempotency-Key when GitLab sends it, else the event UUID plus a hash of the body, else the hash alone."""
    key = headers.get("Idempotency-Key", "").strip()
    if key:
        return key
    digest = hashlib.sha256(body).hexdigest()[:32]
    uuid = headers.get("X-Gitlab-Event-UUID", "").strip()
    return f"{uuid}:{digest}" if uuid else f"body:{digest}"


@bp.post("/webhooks/gitlab")
def receive_gitlab():
    settings: Settings = get_settings()
    if not settings.gitlab_webhook_secret:
        abort(404, "GitLab webhooks are not enabled: set CODEXBOT_GITLAB_WEBHOOK_SECRET")
    event = request.headers.get("X-Gitlab-Event", "")
    if not verify_shared_token(request.headers.get("X-Gitlab-Token"), settings.gitlab_webhook_secret):
        Delivery("gitlab", "", event).reject(401, "bad token", "X-Gitlab-Token is missing or wrong: check the webhook's secret token")
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: 413 before the body is read
    delivery = Delivery("gitlab", delivery_id(request.headers, body), event)
    if not _EVENT.match(event) or not _KEY.match(delivery.id):
        delivery.reject(400, "missing headers", "X-Gitlab-Event is required, and Idempotency-Key must be a plain id")
    result = delivery.parse(parse_gitlab_event, delivery.json_body(body), rules_for(settings, settings.gitlab_bot_username))
    if isinstance(result, Ignored):
        return delivery.answer(200, {"ignored": result.reason})
    return delivery.accept(result, settings)
