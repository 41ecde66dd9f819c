"""The terminal's side of /api/: a small HTTP client with timeouts whose failures are one sentence each."""

from __future__ import annotations

import time

import requests

TIMEOUT = 30
RETRIES = 3  # POST /api/runs carries a request id, so repeating it after a dropped connection starts one run


class ApiError(RuntimeError):
    """The server could not be reached or refused; the message says what to fix."""


class ApiClient:
    def __init__(self, server_url: str, token: str, timeout: float = TIMEOUT):
        if not server_url:
            raise ApiError("no codexbot server is configured: set server_url in ~/.config/codexbot/config.toml "
                           "(or CODEXBOT_SERVER_URL)")
        if not token:
            raise ApiError("no API token is configured: ask the server's admin for one (`codexbot token create`) "
                           "and set api_token in ~/.config/codexbot/config.toml (or CODEXBOT_API_TOKEN)")
        self.base, self.timeout = server_url.rstrip("/"), timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.retry_after = 0.0  # seconds the last answer asked to wait before the next request (Retry-After)

    def call(self, method: str, path: str, *, body: dict | None = None, params: dict | None = None,
             timeout: float | None = None) -> dict:
        """The JSON answer; a dropped connection or a 502/503/504 is tried again (at most RETRIES times)."""
        for attempt in range(RETRIES):
            try:
                answer = self.session.request(method, self.base + path, json=body, params=params,
                                              timeout=timeout or self.timeout)
            except requests.RequestException as exc:
                if attempt + 1 == RETRIES:
                    raise ApiError(f"could not reach the codexbot server at {self.base} ({type(exc).__name__}): "
                                   "check server_url with `codexbot config show`") from None
                time.sleep(1 + attempt)
                continue
            if answer.status_code in (502, 503, 504) and attempt + 1 < RETRIES:
                time.sleep(1 + attempt)
                continue
            self.retry_after = _seconds(answer.headers.get("Retry-After"))
            return _json_of(answer, self.base)
        raise AssertionError("unreachable")


def _seconds(header: str | None, most: float = 60.0) -> float:
    """Retry-After in seconds (a number; an HTTP date counts as the most), never more than `most`."""
    if not header:
        return 0.0
    try:
        return min(max(float(header), 0.0), most)
    except ValueError:
        return most


def _json_of(answer: requests.Response, base: str) -> dict:
    try:
        data = answer.json()
    except ValueError:
        raise ApiError(f"the server at {base} answered {answer.status_code} without JSON: "
                       "is server_url the address of a codexbot server?") from None
    if answer.status_code >= 400:
        message = data.get("error") if isinstance(data, dict) else None
        raise ApiError(message or f"the server answered {answer.status_code}")
    return data
