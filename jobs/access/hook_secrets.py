"""Secret tokens of GitLab webhooks per project or group, kept in Redis encrypted with a key derived from
CODEXBOT_SECRET_KEY. The shared CODEXBOT_GITLAB_WEBHOOK_SECRET is known to every maintainer who set up a
hook; once a project (or a group above it) has its own secret, the shared one no longer admits deliveries
for that project, so knowing it is not enough to post a webhook in another project's name."""

from __future__ import annotations

import re

from cryptography.fernet import InvalidToken

from jobs.access.sealing import fernet_for
from jobs.settings import SettingsError

KEY = "codexbot:gitlab:hook-secrets"  # hash: lower-case project or group path → Fernet ciphertext of the secret
_INFO = b"codexbot gitlab hook secrets v1"  # binds the derived key to this one use of the secret key
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
MAX_SECRET = 1024  # GitLab's secret token field is a short string


def normalize_path(path: str) -> str:
    """GitLab paths are case-insensitive: "Group/Sub/Project/" and "group/sub/project" are one."""
    cleaned = path.strip().strip("/")
    segments = cleaned.split("/")
    if not cleaned or not all(_SEGMENT.match(s) and not s.endswith((".git", ".atom")) for s in segments):
        raise SettingsError(f"{path!r} is not a GitLab project or group path: use e.g. group/sub/project")
    return cleaned.lower()


def enclosing_paths(project_path: str) -> list[str]:
    """The project and every group above it, the most specific first ("a/b/c", "a/b", "a")."""
    segments = normalize_path(project_path).split("/")
    return ["/".join(segments[:n]) for n in range(len(segments), 0, -1)]


class HookSecrets:
    """The webhook secrets of GitLab projects and groups; a project is admitted by its own and its groups'."""

    def __init__(self, redis, secret_key: str):
        self.redis = redis
        self._secret_key = secret_key

    def __repr__(self) -> str:
        return "HookSecrets(key=(hidden))"

    def set(self, path: str, secret: str) -> None:
        """Stores (or replaces) the secret of a project or group."""
        if not secret or len(secret) > MAX_SECRET or any(c.isspace() or not c.isprintable() for c in secret):
            raise SettingsError(f"a GitLab webhook secret must be 1 to {MAX_SECRET} printable characters "
                                "without spaces: paste the secret token itself")
        self.redis.hset(KEY, normalize_path(path), self._fernet().encrypt(secret.encode()))

    def remove(self, path: str) -> bool:
        return bool(self.redis.hdel(KEY, normalize_path(path)))

    def paths(self) -> list[str]:
        return sorted(p.decode() if isinstance(p, bytes) else p for p in self.redis.hkeys(KEY))

    def exist(self) -> bool:
        """Whether any project or group has its own secret (GitLab webhooks are on even without the shared one)."""
        return bool(self.redis.hlen(KEY))

    def secrets_for(self, project_path: str) -> tuple[str, ...]:
        """The secrets of the project and of every group above it; () when none of them has one.
        SettingsError when one is stored but does not open with this CODEXBOT_SECRET_KEY."""
        candidates = enclosing_paths(project_path)
        found = []
        for path, sealed in zip(candidates, self.redis.hmget(KEY, candidates)):
            if sealed is not None:
                found.append(self._open(path, sealed))
        return tuple(found)

    def _open(self, path: str, sealed: bytes | str) -> str:
        try:
            return self._fernet().decrypt(sealed if isinstance(sealed, bytes) else sealed.encode()).decode()
        except InvalidToken:
            raise SettingsError(f"the GitLab webhook secret of {path} was stored with another CODEXBOT_SECRET_KEY: "
                                f"store it again with `codexbot gitlab-hook-secret set {path}`") from None

    def _fernet(self):
        return fernet_for(self._secret_key, _INFO, guards="the GitLab webhook secrets")
