"""Run a shell command in a workspace with a timeout, limits, an output cap and a clean environment.

`make_sandbox` is the one place that picks a backend: bubblewrap (the default) or a plain subprocess
(development only, loudly logged). A container backend would be a third CommandRunner with its own launch().
"""

from __future__ import annotations

import os
from pathlib import Path

from jobs.sandbox.base import (PHASE_NETWORK, SANDBOX_HOME, SANDBOX_UID, SYSTEM_PATH, WORKSPACE, CommandResult,
                               Sandbox, build_env, looks_secret)
from jobs.sandbox.bubblewrap import BubblewrapSandbox, check_bwrap, find_host_python
from jobs.sandbox.limits import BudgetExhausted, RunBudget, SandboxCancelled, SandboxError, SandboxLimits
from jobs.sandbox.local import SubprocessSandbox

__all__ = ["BubblewrapSandbox", "BudgetExhausted", "CommandResult", "PHASE_NETWORK", "RunBudget", "SANDBOX_HOME",
           "SANDBOX_UID", "Sandbox", "SandboxCancelled", "SandboxError", "SandboxLimits", "SubprocessSandbox",
           "WORKSPACE", "build_env", "check_bwrap", "looks_secret", "make_sandbox"]


def make_sandbox(kind: str, workspace: Path, *, limits: SandboxLimits | None = None, budget: RunBudget | None = None,
                 host_uid: int | None = None, host_gid: int | None = None) -> Sandbox:
    """The backend named by the settings; `budget` is shared when one run uses several sandboxes."""
    if kind == "bwrap":
        bwrap = check_bwrap()
        return BubblewrapSandbox(workspace, limits=limits, budget=budget, bwrap=bwrap, host_uid=host_uid,
                                 host_gid=host_gid, ro_paths=find_host_python(os.environ.get("PATH", SYSTEM_PATH)))
    if kind == "subprocess":
        return SubprocessSandbox(workspace, limits=limits, budget=budget)
    raise ValueError(f"sandbox kind must be 'bwrap' or 'subprocess', not {kind!r}")
