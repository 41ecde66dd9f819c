"""Webhook authenticity: HMAC signatures (GitHub) and shared tokens (GitLab), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable


def sign_github(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value GitHub sends for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github_signature(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """True when the header is the HMAC-SHA256 of the raw body under any of the secrets (rotation)."""
    if not header or not header.startswith("sha256="):
        return False
    given = header.strip().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        # every secret is compared, so the time taken does not tell which one matched
        matched |= hmac.compare_digest(sign_github(body, secret).encode(), given)
    return matched


def verify_shared_token(header: str | None, secrets: Iterable[str]) -> bool:
    """True when the header equals one of the configured tokens (GitLab's X-Gitlab-Token)."""
    if not header:
        return False
    given = header.encode("utf-8", "replace")
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(secret.encode(), given)
    return matched
