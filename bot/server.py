"""Run the Flask app under gunicorn, built once in the master so a bad setting stops it before forking."""

from __future__ import annotations

import os

from flask import Flask
from gunicorn.app.base import BaseApplication


def default_workers() -> int:
    return min(2 * (os.cpu_count() or 1) + 1, 9)


class WebServer(BaseApplication):
    """gunicorn with its options given here rather than on its own command line."""

    def __init__(self, app: Flask, options: dict[str, object]):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # options newer than the installed gunicorn are left out
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def serve(app: Flask, host: str, port: int, workers: int, threads: int = 16) -> None:
    """Serve until stopped; SIGTERM lets in-flight requests finish (graceful_timeout).

    Threaded workers: a run page's live log (SSE) or an API long-poll holds one thread for up to 25 s, and at
    most CODEXBOT_WEB_STREAMS of a worker's threads (2 per client address) may be held so (bot/streams.py), so
    people watching runs never take the threads that answer webhooks within the forge's 10 s.
    """
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers or default_workers(),
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,  # a request that takes this long is a bug: the forge gave up after 10 s
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,  # the app logs one structured line per delivery
        "errorlog": "-",
        "preload_app": True,
        "proc_name": "codexbot-web",
        # gunicorn 27's control socket sits at one path per user (~/.gunicorn), which two servers on a
        # machine would share; codexbot does not use it
        "control_socket_disable": True,
    }
    WebServer(app, options).run()
