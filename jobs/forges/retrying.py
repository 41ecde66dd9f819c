"""Forge API retries that report themselves: each wait goes to the run log and the metrics.

A rate-limited request (403 with Retry-After or a rate-limit message, 429) was not carried out, so it is
retried whatever its method, after the wait the forge asks for. A 5xx or a dropped connection may have
been carried out, so only requests that are safe to repeat (reads, PUT, PATCH, DELETE) are retried then,
with exponential backoff; a POST that may have posted a comment is not sent twice.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from github.GithubRetry import GithubRetry
from requests.exceptions import ChunkedEncodingError, ContentDecodingError
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from jobs.forges.base import ForgeAuthError, ForgeUnavailable

SERVER_ERRORS = (500, 502, 503, 504)
REPEATABLE = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
MAX_WAIT = 60.0  # seconds; a forge asking for longer will not heal within a run
CUT_OFF = (ChunkedEncodingError, ContentDecodingError)  # the answer broke after its status line
CUT_OFF_RETRIES = 2


@dataclass(frozen=True)
class ApiWatch:
    """Where a forge adapter reports its API calls and its waits: a log line and named counters."""

    forge: str
    log: Callable[[str], None] = lambda line: None
    count: Callable[[str, dict, float], None] = lambda name, labels, amount: None

    def called(self, outcome: str) -> None:
        self.count("forge_api_calls", {"forge": self.forge, "outcome": outcome}, 1)

    def retried(self, what: str, reason: str, seconds: float) -> None:
        self.log(f"{self.forge} API: {what}; retrying in {seconds:.1f} s")
        self.count("forge_retries", {"forge": self.forge, "reason": reason}, 1)
        self.count("forge_wait_seconds", {"forge": self.forge, "reason": reason}, seconds)


class _Reporting:
    """Mixed into a urllib3 Retry: decides what may be retried, caps waits and reports each one."""

    rate_limited: tuple[int, ...] = (429,)

    def __init__(self, *, watch: ApiWatch | None = None, max_wait: float = MAX_WAIT, last: tuple = (), **kwargs):
        self.watch, self.max_wait, self.last = watch or ApiWatch("forge"), max_wait, last
        super().__init__(**kwargs)

    def new(self, **kw):
        return super().new(watch=self.watch, max_wait=self.max_wait, last=self.last, **kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in self.rate_limited:
            return True
        return method.upper() in REPEATABLE and status_code in SERVER_ERRORS

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None:
            asked = self.get_retry_after(response)
            if asked is not None and asked > self.max_wait:
                raise MaxRetryError(_pool, url, ResponseError(f"asked to wait {asked:.0f} s"))
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        retry.last = (method or "?", urlsplit(url or "").path, getattr(response, "status", None), error)
        return retry

    def sleep(self, response=None) -> None:
        asked = self.get_retry_after(response) if response is not None else None
        seconds = asked if asked is not None else self.get_backoff_time()
        method, path, status, error = self.last or ("?", "?", None, None)
        if status in self.rate_limited:
            reason, why = "rate_limit", f"rate limited ({status})"
        elif status is not None:
            reason, why = "server_error", f"answered {status}"
        else:
            reason, why = "connection", f"connection failed ({type(error).__name__})"
        self.watch.retried(f"{method} {path} {why}", reason, seconds)
        if seconds > 0:
            time.sleep(seconds)


class ForgeRetry(_Reporting, Retry):
    """For GitLab (python-gitlab over requests)."""


class GitHubRetry(_Reporting, GithubRetry):
    """For PyGithub: GitHub also rate limits with 403, and GithubRetry spots limits without Retry-After."""

    rate_limited = (403, 429)


def forge_retry(kind: str, watch: ApiWatch, *, total: int = 4, backoff: float = 0.5,
                secondary_wait: float = 60.0) -> Retry:
    """The retry policy for one forge: `total` retries, backoff 0, 2×backoff, 4×backoff … seconds."""
    common = dict(total=total, backoff_factor=backoff, raise_on_status=False, watch=watch,
                  status_forcelist=list(SERVER_ERRORS), allowed_methods=REPEATABLE)
    if kind == "github":
        return GitHubRetry(secondary_rate_wait=secondary_wait, max_rate_limit_wait=MAX_WAIT, **common)
    return ForgeRetry(**common)


def remint_once(method):
    """For an adapter method: a token the forge rejects (GitHub's replicas may not know one minted a moment
    ago) is dropped with `self._drop_api_token()`, and the call tried once more with a new one."""

    @functools.wraps(method)
    def again_with_a_new_token(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except ForgeAuthError:
            if not self._drop_api_token():
                raise
        self.watch.log(f"{self.watch.forge} API: the token was rejected (401); minted a new one, trying once more")
        self.watch.count("forge_retries", {"forge": self.watch.forge, "reason": "token_rejected"}, 1)
        return method(self, *args, **kwargs)

    return again_with_a_new_token


def retry_cut_off(method):
    """For an adapter method safe to repeat: an answer cut off after its status line (where urllib3's
    retries no longer reach) is asked for again, at most CUT_OFF_RETRIES times."""

    @functools.wraps(method)
    def again_after_a_cut_off_answer(self, *args, **kwargs):
        for attempt in range(CUT_OFF_RETRIES + 1):
            try:
                return method(self, *args, **kwargs)
            except ForgeUnavailable as error:
                if attempt == CUT_OFF_RETRIES or not isinstance(error.__cause__, CUT_OFF):
                    raise
                seconds = 0.5 * (attempt + 1)
                self.watch.retried(f"{method.__name__.replace('_', ' ')}: the answer was cut off", "connection", seconds)
                time.sleep(seconds)
        raise AssertionError("unreachable: the last attempt returns or raises")

    return again_after_a_cut_off_answer
