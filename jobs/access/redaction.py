"""Keep secrets out of everything that leaves the worker: logs, comments, transcripts, PR bodies."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlparse

MIN_SECRET_LENGTH = 6
MASK = "[REDACTED]"
# token shapes worth hiding even when nobody registered them
_KNOWN_SHAPES = re.compile(
    r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,})\b"
)


class Redactor:
    """Replaces every registered secret (and well-known token shapes) with a mask."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            for secret in secrets:
                if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets:
                    self._secrets.add(secret)
                    self._pattern = None

    def redact(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            if self._pattern is None and self._secrets:
                alternatives = sorted(self._secrets, key=len, reverse=True)  # longest first: no partial leftovers
                self._pattern = re.compile("|".join(map(re.escape, alternatives)))
            pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _KNOWN_SHAPES.sub(MASK, text)


def settings_secrets(settings) -> list[str]:
    """Every secret the server's settings hold, the App private key's lines included, for Redactor.add."""
    found = [settings.secret_key, settings.openai_api_key, settings.github_client_secret,
             urlparse(settings.redis_url).password or "",
             settings.gitlab_client_secret, settings.metrics_token,
             *settings.github_webhook_secret, *settings.gitlab_webhook_secret]
    if settings.github_private_key_path:
        try:
            with open(settings.github_private_key_path, encoding="utf-8") as key_file:
                pem = key_file.read()
        except (OSError, UnicodeDecodeError):
            pem = ""  # the forge adapter reports an unreadable key with its own fix
        found += [pem.strip(), *(line.strip() for line in pem.splitlines() if "PRIVATE KEY" not in line)]
    return [secret for secret in found if secret]
