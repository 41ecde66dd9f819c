"""Secrets a repository's setup commands need (a private registry's token), per repository, kept in Redis
encrypted with a key derived from CODEXBOT_SECRET_KEY. They reach the setup phase only (`[setup] secrets`)."""

from __future__ import annotations

import re

from cryptography.fernet import InvalidToken

from jobs.access.sealing import fernet_for

_INFO = b"codexbot setup secrets v1"  # binds the derived key to this one use of the secret key
NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
REPO = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
RESERVED = {"PATH", "HOME", "USER", "LANG", "TERM", "CI", "TMPDIR", "SHELL", "PWD", "IFS", "BASH_ENV", "ENV",
            "PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS"}
MAX_VALUE = 32 * 1024


class SecretError(ValueError):
    """A name, repository or value that cannot be stored; the message says what is allowed."""


def secrets_key(repo: str) -> str:
    return f"codexbot:setup-secrets:{repo.lower()}"


def check_name(name: str) -> str:
    if not NAME.match(name) or name in RESERVED or name.startswith(("LD_", "GIT_")):
        raise SecretError(f"{name!r} cannot be a setup secret's name: use capital letters, digits and _ "
                          "(starting with a letter), and not a name the sandbox sets itself (PATH, HOME, LD_*, GIT_*)")
    return name


class SetupSecrets:
    """The setup secrets of each repository (owner/name or group/project)."""

    def __init__(self, redis, secret_key: str):
        self.redis = redis
        self._fernet = fernet_for(secret_key, _INFO, guards="the setup secrets")

    def set(self, repo: str, name: str, value: str) -> None:
        if not REPO.match(repo):
            raise SecretError(f"{repo!r} is not a repository: use owner/name (GitHub) or group/project (GitLab)")
        if not value or len(value.encode()) > MAX_VALUE or "\0" in value:
            raise SecretError(f"a setup secret's value must be 1 to {MAX_VALUE} bytes without NUL")
        self.redis.hset(secrets_key(repo), check_name(name), self._fernet.encrypt(value.encode()))

    def remove(self, repo: str, name: str) -> bool:
        return bool(self.redis.hdel(secrets_key(repo), name))

    def names(self, repo: str) -> list[str]:
        return sorted(n.decode() for n in self.redis.hkeys(secrets_key(repo)))

    def values(self, repo: str, names: tuple[str, ...]) -> dict[str, str]:
        """The named secrets; SecretError naming the first one that is not stored, and the command to store it."""
        stored = self.redis.hgetall(secrets_key(repo))
        found = {}
        for name in names:
            sealed = stored.get(name.encode())
            if sealed is None:
                raise SecretError(f"the setup secret {name} named in [setup] secrets is not stored for {repo}: run "
                                  f"`codexbot secret set {repo} {name}` (the value comes from standard input)")
            try:
                found[name] = self._fernet.decrypt(sealed).decode()
            except InvalidToken:
                raise SecretError(f"the setup secret {name} of {repo} was stored with another CODEXBOT_SECRET_KEY: "
                                  f"store it again with `codexbot secret set {repo} {name}`") from None
        return found
