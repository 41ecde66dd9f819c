"""Calling a model endpoint: transient failures retried with reported waits, the rest turned into one sentence."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Callable, TypeVar

import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_SERVER_WAIT = 120.0  # seconds; a server asking for longer will not heal within a run
MAX_BACKOFF = 30.0
T = TypeVar("T")


class ModelError(Exception):
    """The model API could not answer; the message says what to fix."""

    partial = None  # the AgentResult so far, set by the loop when a run ends on this error


class Endpoint:
    """One model at one base URL: runs a client call, retrying what may heal, explaining what will not."""

    def __init__(self, base_url: str | None, model: str, timeout: float, max_retries: int,
                 on_retry: Callable[[str], None] | None, sleep: Callable[[float], None], api: str):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.model, self.timeout, self.max_retries, self.api = model, timeout, max_retries, api
        self.on_retry = on_retry or (lambda line: None)
        self.sleep = sleep

    def call(self, request: Callable[[], T]) -> T:
        """The request's answer; waits between tries go to on_retry, so the run log shows them."""
        for attempt in range(self.max_retries + 1):
            try:
                return request()
            except openai.APIError as error:
                wait = retry_wait(error, attempt)
                if wait is None or attempt == self.max_retries:
                    raise ModelError(self.explain(error, attempt + 1)) from error
                self.on_retry(f"model API: {short_reason(error)}; retrying in {wait:.1f} s "
                              f"(retry {attempt + 1} of {self.max_retries})")
                self.sleep(wait)
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def explain(self, error: openai.APIError, attempts: int) -> str:
        """The one sentence a user needs for a failed call."""
        tries = f" (tried {attempts} times)" if attempts > 1 else ""
        detail = _detail(error)
        if isinstance(error, openai.APITimeoutError):
            return (f"the model API at {self.base_url} did not answer within {self.timeout:g} s{tries}: "
                    "check OPENAI_BASE_URL or try again later")
        if isinstance(error, openai.APIConnectionError):
            return (f"could not connect to the model API at {self.base_url}{tries}: "
                    "check OPENAI_BASE_URL and the network")
        if isinstance(error, openai.AuthenticationError):
            return "the model API rejected the key: check OPENAI_API_KEY"
        if isinstance(error, openai.NotFoundError):
            return self._not_found(error, detail)
        status = getattr(error, "status_code", None)
        code = _code(error)
        if code == "context_length_exceeded" or "maximum context length" in detail:
            return (f"the conversation outgrew the context window of {self.model} ({detail}): "
                    "lower CODEXBOT_CONTEXT_TOKENS so older tool output is dropped sooner")
        if "only supported in v1/responses" in detail or "not supported in the v1/chat" in detail:
            return f"{self.model} is served only by the Responses API: set CODEXBOT_MODEL_API=responses"
        if isinstance(error, openai.PermissionDeniedError):
            return f"the model API refused this key access to {self.model} (HTTP 403): {detail}"
        if isinstance(error, openai.RateLimitError):
            if code == "insufficient_quota":
                return f"the account behind OPENAI_API_KEY has no quota left ({detail}): add credit or raise the limit"
            return f"the model API is rate limiting this key (HTTP 429){tries}: {detail}; wait or raise the quota"
        if status is not None and status >= 500:
            return f"the model API at {self.base_url} failed (HTTP {status}){tries}: {detail}"
        return f"the model API at {self.base_url} refused the request (HTTP {status}): {detail}"

    def _not_found(self, error: openai.APIError, detail: str) -> str:
        if self.api == "responses" and (_code(error) == "unknown_url" or "Unknown request URL" in detail
                                        or "/responses" in detail):
            return (f"the server at {self.base_url} has no Responses API ({detail}): "
                    "set CODEXBOT_MODEL_API=chat for OpenAI-compatible servers")
        return f"model {self.model} was not found at {self.base_url}: check CODEXBOT_MODEL"


def retry_wait(error: openai.APIError, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when trying again cannot help."""
    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError)):
        return backoff(attempt)
    response = getattr(error, "response", None)
    status = getattr(error, "status_code", None)
    if response is None or status is None:
        return None
    if response.headers.get("x-should-retry") == "false" or _code(error) == "insufficient_quota":
        return None
    if status not in (408, 409, 429) and status < 500:
        return None
    asked = server_wait(response.headers)
    if asked is None:
        return backoff(attempt)
    return asked if asked <= MAX_SERVER_WAIT else None


def server_wait(headers) -> float | None:
    """What retry-after-ms or Retry-After (seconds or an HTTP date) asks for, in seconds."""
    for name, scale in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            when = email.utils.parsedate_tz(value)
            if when is not None:
                return max(0.0, email.utils.mktime_tz(when) - time.time())
    return None


def backoff(attempt: int) -> float:
    """Exponential from one second, with jitter so many workers do not retry in step."""
    return min(MAX_BACKOFF, 2.0 ** attempt) * (0.75 + 0.25 * random.random())


def short_reason(error: openai.APIError) -> str:
    if isinstance(error, openai.APITimeoutError):
        return "no answer in time"
    if isinstance(error, openai.APIConnectionError):
        return "connection failed"
    return f"HTTP {getattr(error, 'status_code', '?')} ({_detail(error)})"


def _code(error: openai.APIError) -> str | None:
    body = error.body
    return body.get("code") if isinstance(body, dict) else None


def _detail(error: openai.APIError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"].rstrip(".")
    return error.message
