"""Calling a model endpoint: transient failures retried with reported waits, within the time the agent has left."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, TypeVar

import openai

from jobs.agent.model_errors import code_of, explain, full_body, is_invalid_request, short_reason

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_SERVER_WAIT = 120.0  # seconds; a server asking for longer will not heal within a run
MAX_BACKOFF = 30.0
MIN_CALL_SECONDS = 1.0  # less time left than this: the call is not started
POLL_SECONDS = 1.0  # how often a running call asks whether the run was cancelled
T = TypeVar("T")
# When the agent's time runs out (time.monotonic()). A context variable rather than an argument of
# complete(): wrappers of a model (the local run's meter) pass calls through without knowing of it.
_DEADLINE: ContextVar[float | None] = ContextVar("codexbot_model_deadline", default=None)
_STOP: ContextVar[Callable[[], str | None] | None] = ContextVar("codexbot_model_stop", default=None)


class ModelError(Exception):
    """The model API could not answer; the message says what to fix, `details` holds what the server said."""

    partial = None  # the AgentResult so far, set by the loop when a run ends on this error

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


class OutOfTime(ModelError):
    """The agent's wall time ran out during a model call or a wait before retrying one."""


class CallCancelled(ModelError):
    """The run was cancelled while the model was answering; the message is the cancellation's reason."""


@contextmanager
def calls_until(deadline: float | None, should_stop: Callable[[], str | None] | None = None) -> Iterator[None]:
    """Model calls made inside this block end (their retries and waits included) by `deadline`, and as soon
    as `should_stop` gives a reason (checked every POLL_SECONDS while the server is answering)."""
    tokens = _DEADLINE.set(deadline), _STOP.set(should_stop)
    try:
        yield
    finally:
        _DEADLINE.reset(tokens[0])
        _STOP.reset(tokens[1])


def watched(request: Callable[[float], T], timeout: float) -> T:
    """request(timeout), abandoned as soon as the run is cancelled: the answer would be thrown away anyway,
    and the client's own timeout ends the abandoned request."""
    should_stop = _STOP.get()
    if should_stop is None:
        return request(timeout)
    outcome: dict = {}

    def ask() -> None:
        try:
            outcome["answer"] = request(timeout)
        except BaseException as error:  # noqa: BLE001  (handed to the waiting thread, which raises it)
            outcome["error"] = error

    worker = threading.Thread(target=ask, name="model-call", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        reason = should_stop() if worker.is_alive() else None
        if reason:
            raise CallCancelled(reason)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def time_left() -> float | None:
    """Seconds until the current deadline, or None when there is none."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


class Endpoint:
    """One model at one base URL: runs a client call, retrying what may heal, explaining what will not."""

    def __init__(self, base_url: str | None, model: str, timeout: float, max_retries: int,
                 on_retry: Callable[[str], None] | None, sleep: Callable[[float], None], api: str):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.model, self.timeout, self.max_retries, self.api = model, timeout, max_retries, api
        self.on_retry = on_retry or (lambda line: None)
        self.sleep = sleep

    def call(self, request: Callable[[float], T]) -> T:
        """request(timeout)'s answer; waits between tries go to on_retry, so the run log shows them.

        Each try gets CODEXBOT_MODEL_TIMEOUT or the agent's time left, whichever is shorter; a request the
        server refused as invalid is never sent again unchanged.
        """
        for attempt in range(self.max_retries + 1):
            timeout = self.call_timeout()
            try:
                return watched(request, timeout)
            except openai.APIError as error:
                if isinstance(error, openai.APITimeoutError) and timeout < self.timeout:
                    raise OutOfTime("the model was still answering") from error
                wait = retry_wait(error, attempt)
                if wait is None or attempt == self.max_retries:
                    raise ModelError(self.explain(error, attempt + 1), full_body(error)) from error
                left = time_left()
                if left is not None and wait + MIN_CALL_SECONDS > left:
                    raise OutOfTime(f"no time was left to retry the model call after {short_reason(error)}") from error
                self.on_retry(f"model API: {short_reason(error)}; retrying in {wait:.1f} s "
                              f"(retry {attempt + 1} of {self.max_retries})")
                self.sleep(wait)
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def call_timeout(self) -> float:
        left = time_left()
        if left is None:
            return self.timeout
        if left < MIN_CALL_SECONDS:
            raise OutOfTime("no time was left for another model call")
        return min(self.timeout, left)

    def explain(self, error: openai.APIError, attempts: int) -> str:
        """The one sentence a user needs for a failed call."""
        return explain(error, base_url=self.base_url, model=self.model, api=self.api, timeout=self.timeout,
                       attempts=attempts)


def retry_wait(error: openai.APIError, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when trying again cannot help."""
    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError)):
        return backoff(attempt)
    response = getattr(error, "response", None)
    status = getattr(error, "status_code", None)
    if response is None or status is None:
        return None
    if response.headers.get("x-should-retry") == "false" or code_of(error) == "insufficient_quota":
        return None
    if is_invalid_request(error):
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
