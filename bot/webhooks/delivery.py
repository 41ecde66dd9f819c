"""One webhook delivery's journey, shared by the forges: parse the body, record once, answer, log a line.

Nothing here needs Flask: the webhook routes are answered by bot/webhooks/front.py before Flask sees the request
(Flask's own per-request work cost about as much as all of codexbot's for a comment without a command).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

import msgspec
import orjson
import redis

from bot.events.fields import Ignored, PayloadError, Rules
from bot.logs import elapsed_ms, log_event
from bot.state import AppState
from jobs.intake.accept import accept_trigger, queue_for
from jobs.intake.rate_limits import RateLimits
from jobs.settings import Settings
from jobs.types import Trigger


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str


class Refused(Exception):
    """The delivery is refused: `status` with a one-line message saying what was wrong (as every error of the app)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message

    def answer(self) -> Answer:
        return Answer(self.status, f"{self.message}\n".encode(), "text/plain; charset=utf-8")


class Delivery:
    """The request being handled; every exit answers and writes one structured log line."""

    def __init__(self, state: AppState, forge: str, delivery_id: str, event: str):
        self.started = time.perf_counter()
        self.state = state
        self.forge, self.id, self.event = forge, delivery_id, event
        self.log = logging.getLogger(f"codexbot.webhook.{forge}")

    def reject(self, status: int, outcome: str, message: str):
        self._log(status, outcome)
        raise Refused(status, message)

    def answer(self, status: int, body: dict[str, Any], **fields: object) -> Answer:
        self._log(status, body.get("ignored", "accepted"), run_id=body.get("run_id"), **fields)
        if body.keys() == {"ignored"}:  # most answers: the same few reasons again and again
            return Answer(status, _ignored_answer(body["ignored"]), "application/json")
        return Answer(status, _json_line(body), "application/json")

    def json_body(self, body: bytes, content_type: str, fields: msgspec.json.Decoder | None = None) -> dict[str, Any]:
        """The payload: only the fields `fields` names when given and the body fits them, else all of it."""
        if content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded":
            self.reject(400, "form body", "the webhook sends form data: set its content type to application/json")
        if fields is not None and (payload := _only_fields(fields, body)) is not None:
            return payload
        try:
            payload = orjson.loads(body)  # lone surrogates, NaN and huge numbers are refused: json says which
        except orjson.JSONDecodeError:
            payload = self._json_loads(body)
        if not isinstance(payload, dict):
            self.reject(400, "not an object", "the body is not a JSON object")
        if _ESCAPED_SURROGATE.search(body) and not _is_valid_unicode(payload):
            self.reject(400, "lone surrogate", "the body has a \\u escape that is not valid Unicode (a lone surrogate)")
        return payload

    def _json_loads(self, body: bytes) -> Any:
        """The standard library's reading of what orjson refused: the same values, or the reason it is no JSON."""
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            self.reject(400, "not JSON", "the body is not valid JSON")
        except RecursionError:  # json raises it for arrays or objects nested thousands deep
            self.reject(400, "nested too deeply", "the body is JSON nested too deeply to be a webhook payload")

    def parse(self, parser: Callable[[str, dict, Rules], Trigger | Ignored], payload: dict, rules: Rules):
        try:
            return parser(self.event, payload, rules)
        except PayloadError as exc:
            self.reject(400, str(exc), f"malformed {self.event} payload: {exc}")

    def accept(self, trigger: Trigger, settings: Settings) -> Answer:
        """Record the delivery and enqueue its run: 202, 200 for a redelivery, 503 when not recorded."""
        try:
            queue = queue_for(self.state.queues, trigger)
            intake = accept_trigger(queue, trigger, self.id, job_timeout=settings.job_timeout,
                                    limits=RateLimits.from_settings(settings), slots=settings.repo_concurrency,
                                    control=self.state.queues["control"])
        except redis.RedisError as exc:
            self.unrecorded(exc)
        if intake.duplicate:
            return self.answer(200, {"duplicate": True, "run_id": intake.run_id})
        if intake.limited:
            told = "the requester is told once" if intake.limited == "told" else "already told"
            return self.answer(200, {"ignored": f"over the rate limit: not run ({told})", "run_id": intake.run_id},
                               repo=trigger.repo, number=trigger.number, author=trigger.author)
        return self.answer(202, {"run_id": intake.run_id, "command": trigger.command.kind},
                           repo=trigger.repo, number=trigger.number, author=trigger.author)

    def unrecorded(self, exc: redis.RedisError):
        """Redis failed while the delivery was being handled: 503, so the forge's redelivery can record it."""
        self.reject(503, f"not recorded: {type(exc).__name__}",
                    "the delivery could not be recorded (Redis is unavailable); please redeliver")

    def _log(self, status: int, outcome: str, **fields: object) -> None:
        counters = self.state.counters
        if counters is not None:
            counters.add("deliveries", {"forge": self.forge, "event": self.event[:64], "status": str(status)})
        log_event(self.log, "delivery", forge=self.forge, delivery=self.id[:128], event=self.event[:64],
                  status=status, outcome=outcome, ms=elapsed_ms(self.started), **fields)


def _only_fields(fields: msgspec.json.Decoder, body: bytes) -> dict[str, Any] | None:
    """The fields the parser reads, or None when the body does not plainly fit them (it is then read whole,
    and refused or parsed exactly as any other). msgspec checks the UTF-8 of the fields it decodes only."""
    try:
        if not body.isascii():
            body.decode("utf-8")
        return fields.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None


# JSON may escape half of a UTF-16 pair alone (a lone \ud800); such text cannot be stored or posted anywhere.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _is_valid_unicode(payload: dict) -> bool:
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_line(body: dict[str, Any]) -> bytes:
    return (json.dumps(body) + "\n").encode()


@functools.lru_cache(maxsize=512)
def _ignored_answer(reason: str) -> bytes:
    return _json_line({"ignored": reason})


def rules_for(settings: Settings, bot_login: str) -> Rules:
    return _rules(settings.command, settings.label, bot_login)


@functools.lru_cache(maxsize=64)
def _rules(command: str, label: str, bot_login: str) -> Rules:
    logins = {bot_login.casefold()} if bot_login else set()
    return Rules(command=command, label=label, bot_logins=frozenset(logins))
