"""Run the web app under granian (HTTP in Rust, the app in WSGI threads), built once before the workers fork.

Why granian rather than gunicorn's threaded workers: bench/webhook.py measured gunicorn's gthread worker
alone at about 0.5 ms of CPU per request before any of codexbot's work, Probot's whole path at about 0.4 ms,
and granian at under 0.1 ms. Its connections are held by an event loop, not threads, so a slow or idle client
holds no Python thread, and a bad setting still stops the server before any worker starts, since the app is
built first here.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Callable

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server import Server

HEADER_SECONDS = 10  # a client has this long to send its request line and headers (slowloris)
STOP_SECONDS = 20  # SIGTERM: in-flight requests get this long to finish before workers are killed
_LOGGING = {  # granian's own lines go to stderr, as codexbot's do; codexbot's loggers are left alone
    "handlers": {"console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
                 "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
}


def default_workers() -> int:
    """One process per core: each serves many connections from its event loop and its threads."""
    return max(1, min(os.cpu_count() or 1, 8))


def serve(app: Callable, host: str, port: int, workers: int, threads: int = 16) -> None:
    """Serve until stopped (SIGTERM or SIGINT: requests in flight are answered first).

    `threads` is the number of WSGI threads per process. A run page's live log (SSE) or an API long-poll holds
    one for up to 25 s, and at most CODEXBOT_WEB_STREAMS of them (2 per client address) may be held so
    (bot/streams.py), so people watching runs never take the threads that answer webhooks within the forge's
    10 s. Connections still reading their headers or body hold no thread at all.
    """
    server = Server(
        "codexbot",  # a name only: the app is handed over by target_loader, already built
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers or default_workers(),
        blocking_threads=threads,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_SECONDS * 1000),
        log_dictconfig=_LOGGING,
        log_access=False,  # the app logs one structured line per delivery
        workers_kill_timeout=STOP_SECONDS,
        respawn_failed_workers=True,
    )
    # workers must be forked, not spawned: the app built here (and checked) is what they serve
    multiprocessing.set_start_method("fork", force=True)
    server.serve(target_loader=lambda _name: app)
