"""The forges' own example payloads (../shared/corpus) and signed webhook headers for tests."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.webhooks.signatures import sign_github

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
WEBHOOK_SECRET = "test-webhook-secret"


def corpus_files(forge: str) -> list[Path]:
    return sorted((CORPUS / forge).rglob("*.json"))


def corpus_path(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"the webhook corpus is missing {path}: the tests expect ../shared/corpus beside the checkout")
    return path


def load_corpus(*parts: str) -> dict:
    return json.loads(corpus_path(*parts).read_text(encoding="utf-8"))


def github_headers(body: bytes, event: str, delivery: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
            "X-Hub-Signature-256": sign_github(body, secret), "User-Agent": "GitHub-Hookshot/test"}


class LargeBody(io.RawIOBase):
    """A large body made up on the fly, counting how much of it the app reads."""

    def __init__(self, size):
        self.size, self.pos, self.read_bytes = size, 0, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=0):
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buf):
        n = min(len(buf), self.size - self.pos)
        buf[:n] = b"x" * n
        self.pos += n
        self.read_bytes += n
        return n


def recorded_keys(conn) -> list[bytes]:
    """What a request left in Redis, besides the schema version the app stamps on a fresh Redis."""
    from jobs.records.schema import SCHEMA_KEY

    return [key for key in conn.keys("*") if key != SCHEMA_KEY.encode()]
