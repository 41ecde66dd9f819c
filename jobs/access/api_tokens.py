"""Per-user API tokens for /api: created once, stored only as a keyed hash, scoped to repositories, revocable."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

import redis

PREFIX = "cbt_"
_INDEX = "codexbot:apitokens"
_TOKEN_SHAPE = re.compile(r"cbt_([0-9a-f]{12})_([A-Za-z0-9_-]{32,64})")
_SCOPE_SHAPE = re.compile(r"(github|gitlab):[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")
_LOGIN_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class TokenError(ValueError):
    """A token cannot be created as asked; the message says what to change."""


@dataclass(frozen=True)
class ApiToken:
    token_id: str
    user: str  # the forge login the runs are asked for as; its permission is checked on the forge
    scopes: tuple[str, ...]  # "github:owner/name" or "gitlab:group/project"
    created_at: float
    expires_at: float | None

    def allows(self, forge: str, repo: str) -> bool:
        return f"{forge}:{repo}" in self.scopes

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at


def parse_scope(text: str) -> str:
    """`owner/name` (GitHub) or `gitlab:group/project` into the stored form `forge:path`."""
    scope = text.strip() if ":" in text else f"github:{text.strip()}"
    if not _SCOPE_SHAPE.fullmatch(scope):
        raise TokenError(f"{text!r} is not a repository: give owner/name, or gitlab:group/project for GitLab")
    return scope


def _key(token_id: str) -> str:
    return f"codexbot:apitoken:{token_id}"


class ApiTokens:
    """The tokens in Redis: a hash per token holding HMAC-SHA256(secret key, token), never the token itself."""

    def __init__(self, conn: redis.Redis, secret_key: str):
        if not secret_key:
            raise TokenError("CODEXBOT_SECRET_KEY is not set: API tokens are hashed with it, so set it first")
        self.conn, self.secret = conn, secret_key.encode()

    def _digest(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def create(self, user: str, repos: list[str], expires_days: int | None = None) -> tuple[ApiToken, str]:
        """A new token; the text is returned here once and cannot be read back later."""
        if not _LOGIN_SHAPE.fullmatch(user):
            raise TokenError(f"{user!r} is not a forge login")
        scopes = tuple(sorted({parse_scope(r) for r in repos}))
        if not scopes:
            raise TokenError("a token needs at least one --repo it may start runs on")
        if expires_days is not None and expires_days < 1:
            raise TokenError("--expires-days must be at least 1")
        token_id, now = secrets.token_hex(6), time.time()
        text = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        expires = now + expires_days * 86400 if expires_days else None
        fields = {"user": user, "scopes": json.dumps(scopes), "created_at": repr(now), "digest": self._digest(text)}
        if expires is not None:
            fields["expires_at"] = repr(expires)
        pipe = self.conn.pipeline()
        pipe.hset(_key(token_id), mapping=fields)
        pipe.sadd(_INDEX, token_id)
        pipe.execute()
        return ApiToken(token_id, user, scopes, now, expires), text

    def load(self, token_id: str) -> ApiToken | None:
        raw = {k.decode(): v.decode() for k, v in self.conn.hgetall(_key(token_id)).items()}
        if not raw:
            return None
        expires = float(raw["expires_at"]) if raw.get("expires_at") else None
        return ApiToken(token_id, raw["user"], tuple(json.loads(raw["scopes"])), float(raw["created_at"]), expires)

    def verify(self, text: str) -> ApiToken | None:
        """The token a bearer string names, if it is known, unrevoked, unexpired and its secret matches."""
        match = _TOKEN_SHAPE.fullmatch(text or "")
        if match is None:
            return None
        digest = self.conn.hget(_key(match[1]), "digest")
        if digest is None or not hmac.compare_digest(digest.decode(), self._digest(text)):
            return None
        token = self.load(match[1])
        return token if token is not None and not token.expired() else None

    def list(self) -> list[ApiToken]:
        ids = sorted(item.decode() for item in self.conn.smembers(_INDEX))
        tokens = [self.load(token_id) for token_id in ids]
        return sorted((t for t in tokens if t is not None), key=lambda t: t.created_at)

    def revoke(self, token_id: str) -> bool:
        pipe = self.conn.pipeline()
        pipe.delete(_key(token_id))
        pipe.srem(_INDEX, token_id)
        return bool(pipe.execute()[0])


def take_request(conn: redis.Redis, token_id: str, per_minute: int, now: float | None = None) -> int:
    """Count one request in the token's current minute; 0 if it may go ahead, else seconds until it may."""
    now = time.time() if now is None else now
    window = int(now // 60)
    key = f"codexbot:apirate:{token_id}:{window}"
    pipe = conn.pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count = pipe.execute()[0]
    if count <= per_minute:
        return 0
    return max(1, int((window + 1) * 60 - now + 0.999))
