"""Signed-in viewers' OAuth tokens, kept server-side in Redis, encrypted; the cookie holds only a session id."""

from __future__ import annotations

import base64
import secrets

import redis
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SESSION_SECONDS = 12 * 3600
_INFO = b"codexbot viewer sessions v1"


def _key(sid: str) -> str:
    return f"codexbot:session:{sid}"


class ViewerSessions:
    def __init__(self, conn: redis.Redis, secret_key: str):
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
        self.conn, self._fernet = conn, Fernet(base64.urlsafe_b64encode(raw))

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
