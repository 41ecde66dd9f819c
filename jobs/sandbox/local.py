"""The development backend: a plain subprocess with the same limits and environment, and no isolation at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from jobs.sandbox.base import SYSTEM_PATH, build_env, log
from jobs.sandbox.limits import RunBudget, SandboxLimits
from jobs.sandbox.process import Launch, limited_command, pids_in_session
from jobs.sandbox.runner import CommandRunner


class SubprocessSandbox(CommandRunner):
    """Runs commands as the worker's own user, with its network and files. For local development only."""

    def __init__(self, workspace: Path, *, limits: SandboxLimits | None = None, budget: RunBudget | None = None):
        super().__init__(workspace, limits, budget)
        log.warning("SubprocessSandbox runs agent commands WITHOUT isolation as the worker's own user (uid %d), "
                    "with its network and files; use sandbox 'bwrap' for anything but local development",
                    os.geteuid())

    @contextmanager
    def launch(self, command: str, *, network: bool, env: Mapping[str, str] | None) -> Iterator[Launch]:
        home = tempfile.mkdtemp(prefix="codexbot-home-")
        try:
            environment = build_env(env, path=os.environ.get("PATH", SYSTEM_PATH), home=home)
            launch = Launch(limited_command(command, self.limits), cwd=self.workspace, env=environment)
            launch.on_started = lambda process: setattr(launch, "members", partial(pids_in_session, process.pid))
            yield launch
        finally:
            shutil.rmtree(home, ignore_errors=True)
