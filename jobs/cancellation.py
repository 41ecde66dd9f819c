"""Stopping a run on request: a watcher that kills the sandbox's running command when `/codex cancel` comes."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from jobs import runs


@contextmanager
def cancel_watch(conn, run_id: str, sandbox) -> Iterator[None]:
    """While the sandbox is in use, a `/codex cancel` kills the command it is running within a second."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(1.0):
            if runs.cancel_requested(conn, run_id) is not None:
                sandbox.cancel()
                return

    threading.Thread(target=watch, name=f"cancel-watch-{run_id}", daemon=True).start()
    try:
        yield
    finally:
        stop.set()
