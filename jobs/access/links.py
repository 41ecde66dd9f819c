"""Signed, expiring links to run pages: made by the worker, checked by the web side."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

DEFAULT_TTL = 30 * 24 * 3600


def _signature(secret_key: str, run_id: str, expires: int) -> str:
    mac = hmac.new(secret_key.encode(), f"run:{run_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:20]).decode().rstrip("=")


def sign_run_link(public_url: str, secret_key: str, run_id: str, ttl: int = DEFAULT_TTL, now: float | None = None) -> str:
    if not secret_key:
        raise ValueError("CODEXBOT_SECRET_KEY is not set: it signs the run links posted on issues")
    expires = int((now if now is not None else time.time()) + ttl)
    return f"{public_url.rstrip('/')}/runs/{run_id}?expires={expires}&sig={_signature(secret_key, run_id, expires)}"


def verify_run_link(secret_key: str, run_id: str, expires: str | None, sig: str | None, now: float | None = None) -> str | None:
    """None when the link is good, else the reason it is not."""
    if not secret_key or not expires or not sig or not expires.isdigit():
        return "this page needs the signed link posted on the issue or pull request"
    if not hmac.compare_digest(_signature(secret_key, run_id, int(expires)), sig):
        return "the link's signature does not match: use the link posted on the issue or pull request"
    if int(expires) < (now if now is not None else time.time()):
        return "the link has expired: ask for /codex status to get a fresh one"
    return None
