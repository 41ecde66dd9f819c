"""Signed-in viewers' OAuth tokens, kept server-side in Redis, encrypted; the cookie holds only a session id."""

from __future__ import annotations

import secrets

import redis
from cryptography.fernet import InvalidToken

from jobs.access.sealing import fernet_for

SESSION_SECONDS = 12 * 3600
_INFO = b"codexbot viewer sessions v1"


def _key(sid: str) -> str:
    return f"codexbot:session:{sid}"


class ViewerSessions:
    def __init__(self, conn: redis.Redis, secret_key: str):
        self.conn, self._fernet = conn, fernet_for(secret_key, _INFO)

    def __repr__(self) -> str:
        return "ViewerSessions(key=(hidden))"

    def start(self, token: str) -> str:
        """Keep the token and return the new session's id."""
        sid = secrets.token_urlsafe(24)
        self.conn.set(_key(sid), self._fernet.encrypt(token.encode()), ex=SESSION_SECONDS)
        return sid

    def token(self, sid: str) -> str | None:
        """The session's token, or None when it ended, expired or was written with another key."""
        stored = self.conn.get(_key(sid))
        if stored is None:
            return None
        try:
            return self._fernet.decrypt(stored).decode()
        except InvalidToken:
            return None

    def end(self, sid: str) -> None:
        self.conn.delete(_key(sid))
