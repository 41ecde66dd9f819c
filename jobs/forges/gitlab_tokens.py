"""GitLab access tokens per project or group, kept in Redis encrypted with a key from CODEXBOT_SECRET_KEY."""

from __future__ import annotations

from cryptography.fernet import InvalidToken

from jobs.access.hook_secrets import enclosing_paths, normalize_path
from jobs.access.sealing import fernet_for
from jobs.settings import SettingsError

KEY = "codexbot:gitlab:tokens"  # hash: lower-case path → Fernet ciphertext of the token
_INFO = b"codexbot gitlab tokens v1"  # binds the derived key to this one use of the secret


class TokenStore:
    """Tokens for GitLab projects and groups; a project uses its own token, else its nearest group's."""

    def __init__(self, redis, secret_key: str):
        self.redis = redis
        self._fernet = fernet_for(secret_key, _INFO, guards="the stored GitLab tokens")

    def __repr__(self) -> str:
        return "TokenStore(key=(hidden))"

    def add(self, path: str, token: str) -> None:
        """Stores (or replaces) the token for a project or a group."""
        token = token.strip()
        if not token or any(c.isspace() for c in token):
            raise SettingsError("the GitLab token is empty or has spaces in it: paste the token itself")
        self.redis.hset(KEY, normalize_path(path), self._fernet.encrypt(token.encode()))

    def remove(self, path: str) -> bool:
        """Forgets the token of a project or group; says whether there was one."""
        return bool(self.redis.hdel(KEY, normalize_path(path)))

    def paths(self) -> list[str]:
        return sorted(_text(p) for p in self.redis.hkeys(KEY))

    def lookup(self, project_path: str) -> str | None:
        """The most specific token: the project's own, else the nearest group's above it, else None."""
        candidates = enclosing_paths(project_path)
        for path, sealed in zip(candidates, self.redis.hmget(KEY, candidates)):
            if sealed is not None:
                return self._open(path, sealed)
        return None

    def _open(self, path: str, sealed: bytes | str) -> str:
        try:
            return self._fernet.decrypt(sealed if isinstance(sealed, bytes) else sealed.encode()).decode()
        except InvalidToken:
            raise SettingsError(f"the stored GitLab tokens were encrypted with another CODEXBOT_SECRET_KEY "
                                f"(the one for {path} does not open): set the old key back or add the "
                                "tokens again") from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
