"""POST /webhooks/gitlab: check the hook token, parse, record once, enqueue, and answer within milliseconds.

GitLab disables a hook after repeated failures or timeouts, so this path stays as small as GitHub's.
The token is checked against the project's own secrets (and its groups') when it has any, else the shared
CODEXBOT_GITLAB_WEBHOOK_SECRET; the project is read from at most the first PROJECT_WINDOW bytes of the body
before the token is checked, and the whole body is parsed only after.
"""

from __future__ import annotations

import hashlib
import json
import re

import redis
from flask import Blueprint, Response, request

from bot.events.fields import Ignored
from bot.events.gitlab import HANDLED_EVENTS, parse_gitlab_event
from bot.events.gitlab_fields import PAYLOAD
from bot.events.gitlab_pulls import BranchPipeline
from bot.state import AppState, get_state
from bot.webhooks.delivery import Answer, Delivery, Refused, rules_for
from bot.webhooks.front import Request, answer_webhook, mount
from bot.webhooks.signatures import verify_shared_token
from jobs.access.hook_secrets import normalize_path
from jobs.records import branch_pulls
from jobs.settings import Settings, SettingsError
from jobs.types import Trigger

PATH = "/webhooks/gitlab"
bp = Blueprint("gitlab_webhook", __name__)
bp.record_once(lambda setup: mount(setup.app, PATH, receive_gitlab))
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EVENT = re.compile(r"^[A-Za-z ]{1,64}$")
PROJECT_WINDOW = 64 * 1024  # GitLab sends "project" right after "user"; a hook that moves it past this is refused
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def delivery_id(req: Request, body: bytes) -> str:
    """Idempotency-Key when GitLab sends it, else the event UUID plus a hash of the body, else the hash alone."""
    key = req.header("Idempotency-Key").strip()
    if key:
        return key
    digest = hashlib.sha256(body).hexdigest()[:32]
    uuid = req.header("X-Gitlab-Event-UUID").strip()
    return f"{uuid}:{digest}" if uuid else f"body:{digest}"


def read_head(stream, size: int) -> bytes:
    """The first `size` bytes of the body (fewer when it is shorter): a read may return less than asked."""
    head = bytearray()
    while len(head) < size:  # each turn reads at least one byte or ends
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return bytes(head)


def project_path_in(head: bytes) -> str | None:
    """project.path_with_namespace of the top-level object, read from the start of the body only: each member
    before "project" is decoded on its own, so at most len(head) bytes are looked at. None when it is not there
    (or not within head); the whole body, parsed later, must name the same project."""
    text, at = head.decode("utf-8", "ignore"), 0
    try:
        at = _SPACE.match(text, at).end()
        if not text.startswith("{", at):
            return None
        while True:
            at = _SPACE.match(text, at + 1).end()
            key, at = _DECODER.raw_decode(text, at)
            at = _SPACE.match(text, at).end()
            if not text.startswith(":", at):
                return None
            value, at = _DECODER.raw_decode(text, _SPACE.match(text, at + 1).end())
            if key == "project":
                path = value.get("path_with_namespace") if isinstance(value, dict) else None
                return path if isinstance(path, str) else None
            at = _SPACE.match(text, at).end()
            if not text.startswith(",", at):
                return None
    except (ValueError, RecursionError):  # cut off at the window, not JSON, or nested thousands deep
        return None


def receive_gitlab(state: AppState, req: Request) -> Answer:
    settings = state.settings
    event = req.header("X-Gitlab-Event")
    try:
        if not settings.gitlab_webhook_secret and not state.hook_secrets.exist():
            raise Refused(404, "GitLab webhooks are not enabled: set CODEXBOT_GITLAB_WEBHOOK_SECRET or "
                               "`codexbot gitlab-hook-secret set PROJECT`")
        if _EVENT.match(event) and event not in HANDLED_EVENTS:  # push, tag, wiki, …: nothing to verify or do
            return Delivery(state, "gitlab", "", event).answer(200, {"ignored": f"{event} is not acted on"})
        head = read_head(req.stream, PROJECT_WINDOW)  # over MAX_WEBHOOK_BYTES: 413 before any is read
        project = project_path_in(head)
        secrets = _secrets_of(project, settings, Delivery(state, "gitlab", "", event))
    except redis.RedisError:
        Delivery(state, "gitlab", "", event).reject(503, "secrets unreadable", "the webhook secrets could not be "
                                                    "read (Redis is unavailable); please redeliver")
    if not verify_shared_token(req.header("X-Gitlab-Token") or None, secrets):
        Delivery(state, "gitlab", "", event).reject(401, "bad token", "X-Gitlab-Token is missing or wrong: check the "
                                                    "webhook's secret token (the project's own, when it has one)")
    body = head + req.body()
    delivery = Delivery(state, "gitlab", delivery_id(req, body), event)
    if not _EVENT.match(event) or not _KEY.match(delivery.id):
        delivery.reject(400, "missing headers", "X-Gitlab-Event is required, and Idempotency-Key must be a plain id")
    payload = delivery.json_body(body, req.content_type, PAYLOAD)
    named = payload.get("project")
    named = named.get("path_with_namespace") if isinstance(named, dict) else None
    if (named if isinstance(named, str) else None) != project:
        delivery.reject(400, "project mismatch", "the body names its project more than once, or past its first "
                        f"{PROJECT_WINDOW // 1024} KiB: send GitLab's own payload")
    result = delivery.parse(parse_gitlab_event, payload, rules_for(settings, settings.gitlab_bot_username))
    if isinstance(result, BranchPipeline):
        result = _merge_request_of(delivery, result)
    if isinstance(result, Ignored):
        return delivery.answer(200, {"ignored": result.reason})
    return delivery.accept(result, settings)


@bp.post(PATH)
def receive_gitlab_in_flask():
    """Reached only when the front door is not in front (an app whose wsgi_app was replaced after it)."""
    answer = answer_webhook(receive_gitlab, get_state(), request.environ)
    return Response(answer.body, answer.status, content_type=answer.content_type)


def _merge_request_of(delivery: Delivery, pipeline: BranchPipeline) -> Trigger | Ignored:
    """The repair a branch pipeline asks for, on the merge request codexbot opened from that branch, if any."""
    try:
        number = branch_pulls.recall(delivery.state.redis, "gitlab", pipeline.trigger.repo, pipeline.branch)
    except redis.RedisError as exc:
        delivery.unrecorded(exc)
    if number is None:
        return Ignored(f"a pipeline of {pipeline.branch}, from which codexbot opened no merge request")
    return pipeline.for_merge_request(number)


def _secrets_of(project: str | None, settings: Settings, delivery: Delivery) -> tuple[str, ...]:
    """The project's own secrets and its groups' when any are stored (then only those), else the shared ones."""
    if project is None:
        return settings.gitlab_webhook_secret
    try:
        plain = normalize_path(project) == project.lower()
    except SettingsError:
        plain = False
    if not plain:
        delivery.reject(400, "not a project path", "project.path_with_namespace is not a GitLab project path")
    try:
        own = delivery.state.hook_secrets.secrets_for(project)
    except SettingsError as exc:  # stored with another CODEXBOT_SECRET_KEY: the shared secret must not stand in
        delivery.reject(401, "secret unusable", str(exc))
    return own or settings.gitlab_webhook_secret
