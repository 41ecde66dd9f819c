"""What a worker process is built with (settings, Redis, the GitHub App), set once when the worker starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis

from jobs.settings import Settings, SettingsError


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis

    @property
    def workspaces(self) -> Path:
        return Path(self.settings.data_dir) / "workspaces"


_current: Services | None = None


def build_services(settings: Settings) -> Services:
    return Services(settings=settings, redis=redis.Redis.from_url(settings.redis_url, socket_timeout=10,
                                                                  socket_connect_timeout=5))


def configure(services: Services) -> None:
    global _current
    _current = services


def current() -> Services:
    if _current is None:
        raise SettingsError("the worker was not configured: start it with `codexbot worker`")
    return _current
