"""Run a shell command in a workspace with a timeout, limits, an output cap and a clean environment.

The backends: bubblewrap (the default) and a plain subprocess (development only, loudly logged); jobs/run/wiring.py
picks one. A container backend would be a third CommandRunner with its own launch().
"""

from __future__ import annotations

from jobs.sandbox.base import (PHASE_NETWORK, SANDBOX_HOME, SANDBOX_UID, SYSTEM_PATH, WORKSPACE, CommandResult,
                               Sandbox, SetupSecret, build_env, looks_secret)
from jobs.sandbox.bubblewrap import BubblewrapSandbox, check_bwrap, find_host_python
from jobs.sandbox.limits import BudgetExhausted, RunBudget, SandboxCancelled, SandboxError, SandboxLimits
from jobs.sandbox.local import SubprocessSandbox

__all__ = ["BubblewrapSandbox", "BudgetExhausted", "CommandResult", "PHASE_NETWORK", "RunBudget", "SANDBOX_HOME",
           "SANDBOX_UID", "SYSTEM_PATH", "Sandbox", "SetupSecret", "SandboxCancelled", "SandboxError", "SandboxLimits", "SubprocessSandbox",
           "WORKSPACE", "build_env", "check_bwrap", "find_host_python", "looks_secret"]
