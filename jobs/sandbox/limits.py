"""What a command may use (SandboxLimits), what a whole run may use (RunBudget), and how a hit limit is told."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, fields

MB = 1 << 20


class SandboxError(Exception):
    """The sandbox could not be set up or could not start a command."""


class SandboxCancelled(SandboxError):
    """The run was cancelled: the running command was stopped and no other will start."""


class BudgetExhausted(SandboxError):
    """The run has used all the command time or output its budget allows."""


class DiskQuotaExceeded(SandboxError):
    """The workspace grew past SandboxLimits.disk_mb: the run is stopped and no further command runs."""


@dataclass(frozen=True)
class SandboxLimits:
    command_seconds: float = 600  # wall time of one command; a caller's timeout can only shorten it
    cpu_seconds: int = 600  # CPU time of one process
    memory_mb: int = 2048  # resident memory of all of a command's processes together
    data_mb: int = 8192  # memory one process may allocate (RLIMIT_DATA): allocations fail beyond it; address
    # space reserved but not written (WebAssembly's guard regions, JIT code ranges) does not count, unlike
    # RLIMIT_AS, which broke Node's Wasm and fetch()
    processes: int = 512  # processes and threads alive at once
    file_size_mb: int = 1024  # size any one file may grow to
    tmp_mb: int = 512  # each of /tmp and /dev/shm (they live in memory; each command gets fresh ones)
    output_bytes: int = 100_000  # output kept per command (its head and tail)
    max_output_bytes: int = 64 * MB  # output one command may write before it is stopped
    run_seconds: float = 3600  # wall time of all the commands of a run together
    run_output_bytes: int = 256 * MB  # output all the commands of a run may write together
    disk_mb: int = 4096  # what the run's workspace may take on disk, measured after each command

    def __post_init__(self):
        for field in fields(self):
            if not getattr(self, field.name) > 0:
                raise ValueError(f"SandboxLimits.{field.name} must be positive, not {getattr(self, field.name)!r}")


class RunBudget:
    """Command time and output left to one run, across all its commands (and sandboxes); thread-safe."""

    def __init__(self, seconds: float, output_bytes: int):
        self.seconds, self.output_bytes = seconds, output_bytes
        self.used_seconds, self.used_output = 0.0, 0
        self._lock = threading.Lock()

    @classmethod
    def from_limits(cls, limits: SandboxLimits) -> RunBudget:
        return cls(limits.run_seconds, limits.run_output_bytes)

    @property
    def seconds_left(self) -> float:
        return self.seconds - self.used_seconds

    @property
    def output_left(self) -> int:
        return self.output_bytes - self.used_output

    def check(self) -> None:
        """Raise before a command starts when nothing is left to give it."""
        if self.seconds_left <= 0:
            raise BudgetExhausted(f"the run used up its {self.seconds:g} s of command time; "
                                  "no further command was run")
        if self.output_left <= 0:
            raise BudgetExhausted(f"the run's commands wrote {_size(self.output_bytes)} of output, all the run "
                                  "allows; no further command was run")

    def spend(self, seconds: float, output_bytes: int) -> None:
        with self._lock:
            self.used_seconds += seconds
            self.used_output += output_bytes


# What programs print when a per-process limit bites; the kernel tells us nothing else.
_NO_PROCESS = re.compile(r"fork: (retry: )?Resource temporarily unavailable|Cannot fork|can't start new thread"
                         r"|pthread_create\b.*(Resource temporarily unavailable|EAGAIN)")
_NO_MEMORY = re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc|out of memory", re.IGNORECASE)
SIGXCPU_EXIT, SIGXFSZ_EXIT = 128 + 24, 128 + 25


def explain_stop(reason: str, limits: SandboxLimits, timeout: float) -> tuple[str, str]:
    """(limit name, sentence) for a command the sandbox itself stopped."""
    if reason == "command_seconds":
        return reason, f"command exceeded {timeout:g} s and was stopped"
    if reason == "run_seconds":
        return reason, (f"the run's command time ran out ({limits.run_seconds:g} s for all commands together) "
                        f"and the command was stopped after {timeout:.1f} s")
    if reason == "memory_mb":
        return reason, f"the command was killed: it used more than {limits.memory_mb} MB of memory"
    if reason == "max_output_bytes":
        return reason, f"the command was stopped: it wrote more than {_size(limits.max_output_bytes)} of output"
    if reason == "run_output_bytes":
        return reason, (f"the command was stopped: the run's commands wrote more than "
                        f"{_size(limits.run_output_bytes)} of output together")
    raise ValueError(f"no such stop reason: {reason!r}")


def explain_exit(exit_code: int, output: str, limits: SandboxLimits) -> tuple[str, str]:
    """(limit name, sentence) for a per-process limit the command's exit status or output shows, else ("", "")."""
    if exit_code == SIGXFSZ_EXIT or "File size limit exceeded" in output:
        return "file_size_mb", f"file size limit reached: a file may grow to at most {limits.file_size_mb} MB"
    if exit_code == SIGXCPU_EXIT or "CPU time limit exceeded" in output:
        return "cpu_seconds", f"CPU time limit reached: a process may use at most {limits.cpu_seconds} s of CPU"
    if _NO_PROCESS.search(output):
        return "processes", (f"process limit reached: at most {limits.processes} processes and threads "
                             "may run at once")
    if exit_code != 0 and _NO_MEMORY.search(output):
        return "data_mb", (f"a process could not allocate memory: each may allocate at most {limits.data_mb} MB "
                           f"(RLIMIT_DATA), and all of a command's processes together may use {limits.memory_mb} MB")
    return "", ""


def _size(count: int) -> str:
    return f"{count // MB} MB" if count >= MB else f"{count} bytes"
