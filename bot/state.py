"""The web app's shared objects, behind one accessor each (as the Flask tutorial's get_db): settings, Redis,
the queues and the buffered counters. `init_app` puts them on the app once; views ask here, never by key."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app
from rq import Queue

from bot.streams import RunWaker, StreamSlots
from jobs.access.hook_secrets import HookSecrets
from jobs.intake.accept import control_queue_name, make_queue
from jobs.metrics import BufferedCounters
from jobs.settings import Settings

_KEY = "codexbot"


@dataclass(frozen=True)
class AppState:
    settings: Settings
    redis: redis.Redis
    queues: dict[str, Queue]  # "runs" and "control"
    counters: BufferedCounters
    hook_secrets: HookSecrets  # GitLab webhook secrets per project or group
    stream_slots: StreamSlots  # the few threads live logs and long-polls may hold
    run_waker: RunWaker  # wakes them when a run's log or status changes in Redis


def init_app(app: Flask, settings: Settings) -> AppState:
    """Build the shared objects once, when the app is created; nothing here talks to Redis yet."""
    conn = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=1)
    queues = {"runs": make_queue(conn, settings.queue), "control": make_queue(conn, control_queue_name(settings.queue))}
    state = AppState(settings, conn, queues, BufferedCounters(conn), HookSecrets(conn, settings.secret_key),
                     StreamSlots(min(settings.web_streams, settings.web_threads // 2)), RunWaker(conn))
    app.extensions[_KEY] = state
    return state


def get_state() -> AppState:
    return current_app.extensions[_KEY]


def get_settings() -> Settings:
    return get_state().settings


def get_redis() -> redis.Redis:
    return get_state().redis


def get_queues() -> dict[str, Queue]:
    return get_state().queues


def get_counters() -> BufferedCounters:
    return get_state().counters


def get_hook_secrets() -> HookSecrets:
    return get_state().hook_secrets


def get_stream_slots() -> StreamSlots:
    return get_state().stream_slots


def get_run_waker() -> RunWaker:
    return get_state().run_waker
