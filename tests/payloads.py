"""The forges' own example payloads (../shared/corpus) and signed webhook headers for tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.signatures import sign_github

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
