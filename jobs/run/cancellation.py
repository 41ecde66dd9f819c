"""How runs end early: the outcomes a run can raise, and stopping on request (`/codex cancel`)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from jobs.records import runs


class RunFailed(Exception):
    """Ends a run with the one sentence the tracking comment shows."""


class RunCancelled(Exception):
    """Someone asked the run to stop (`/codex cancel`); the message says who."""


def cancel_reason(conn, run_id: str) -> str | None:
    """Asked by the agent before each step, so `/codex cancel` stops it within one step."""
    who = runs.cancel_requested(conn, run_id)
    return f"cancelled by @{who}" if who is not None else None


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
