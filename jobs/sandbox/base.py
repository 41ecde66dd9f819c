"""The sandbox interface every backend implements, its result type, and the allowlisted environment."""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger("codexbot.sandbox")

WORKSPACE = "/workspace"
SANDBOX_HOME = "/home/sandbox"
SANDBOX_UID = 1000  # the uid commands see inside; on the host they run as the sandbox's host uid
DEFAULT_HOST_UID = 65534  # nobody: used when the worker runs as root, so commands never run as host root
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PHASE_NETWORK = {"setup": True, "agent": False}  # the network default of each phase
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

SECRET_PATTERNS = ("OPENAI_*", "CODEXBOT_*", "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN",
                   "*_TOKEN", "*_KEY", "*_SECRET", "*PASSWORD*")


class SetupSecret(str):
    """A value the run hands to its setup commands on purpose (`[setup] secrets`): passed even though its name
    looks like a secret's. Nothing else in the worker makes one."""


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str  # truncated with a marker; ends with `notice` when a limit was hit
    duration: float
    timed_out: bool = False
    truncated: bool = False
    limit: str = ""  # the SandboxLimits field that was hit first, if any ("memory_mb", "command_seconds", …)
    notice: str = ""  # one sentence per limit hit, one per line


class Sandbox(Protocol):
    workspace: Path
    network: bool  # the default of run(network=None): on in setup, off for the agent unless the repo asks
    disk_exceeded: str  # the sentence once the workspace passed SandboxLimits.disk_mb; "" until then

    def run(self, command: str, *, timeout: float | None = None, network: bool | None = None,
            env: Mapping[str, str] | None = None, output_limit: int | None = None) -> CommandResult: ...

    def start_phase(self, phase: str, *, network: bool | None = None) -> None: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


def phase_network(phase: str, network: bool | None) -> bool:
    """The network setting of a phase: the caller's choice, else the phase's default."""
    if phase not in PHASE_NETWORK:
        raise ValueError(f"the sandbox phase must be one of {', '.join(PHASE_NETWORK)}, not {phase!r}")
    return PHASE_NETWORK[phase] if network is None else network


def build_env(extra: Mapping[str, str] | None, *, path: str, home: str) -> dict[str, str]:
    """The allowlisted environment plus the caller's, minus anything that looks like a secret."""
    env = {"PATH": path, "HOME": home, "USER": "sandbox", "LANG": "C.UTF-8", "TERM": "dumb",
           "PYTHONDONTWRITEBYTECODE": "1", "CI": "true", "TMPDIR": "/tmp"}
    for key, value in (extra or {}).items():
        if looks_secret(key) and not isinstance(value, SetupSecret):
            log.warning("left %s out of the sandbox environment: it looks like a secret, "
                        "and commands in the sandbox never get secrets", key)
        elif not _NAME.fullmatch(key) or "\0" in value:
            log.warning("left %s out of the sandbox environment: only shell variable names and values "
                        "without NUL can be passed", key)
        else:
            env[key] = value
    return env


def looks_secret(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key.upper(), pattern) for pattern in SECRET_PATTERNS)
