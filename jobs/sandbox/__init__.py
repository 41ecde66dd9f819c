"""Run a shell command in a workspace with a timeout, limits, an output cap and a clean environment.

The backends: bubblewrap (the default) and a plain subprocess (development only, loudly logged); jobs/run/wiring.py
picks one. A container backend would be a third CommandRunner with its own launch(). The network fence
(fence.py, egress.py, allowlist.py) is the only way out of a sandbox whose phase has the network on.

Names are loaded on first use, so that settings can check the allowlist (jobs.sandbox.allowlist, pure data)
without loading the backends into the web process.
"""

from importlib import import_module

_WHERE = {"PHASE_NETWORK": "base", "SANDBOX_HOME": "base", "SANDBOX_UID": "base", "SYSTEM_PATH": "base",
          "WORKSPACE": "base", "CommandResult": "base", "Sandbox": "base", "SetupSecret": "base", "build_env": "base",
          "looks_secret": "base", "BubblewrapSandbox": "bubblewrap", "check_bwrap": "bubblewrap",
          "BudgetExhausted": "limits", "DiskQuotaExceeded": "limits", "RunBudget": "limits",
          "SandboxCancelled": "limits", "SandboxError": "limits", "SandboxLimits": "limits",
          "SubprocessSandbox": "local"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'jobs.sandbox' has no attribute {name!r}")
    return getattr(import_module(f"jobs.sandbox.{_WHERE[name]}"), name)
