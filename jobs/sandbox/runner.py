"""What every backend shares: phases, limits and the run budget, cancel, and the result with its notice."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from jobs.sandbox.base import CommandResult, phase_network
from jobs.sandbox.disk import MAX_ENTRIES, measure_disk
from jobs.sandbox.limits import (MB, DiskQuotaExceeded, RunBudget, SandboxCancelled, SandboxLimits, explain_exit,
                                 explain_stop)
from jobs.sandbox.process import Caps, Launch, OutputBuffer, ProcessSlot, run_process


class CommandRunner:
    """A backend supplies launch(); run() applies the limits around it and says which one was hit."""

    def __init__(self, workspace: Path, limits: SandboxLimits | None = None, budget: RunBudget | None = None):
        self.workspace = Path(workspace).resolve()
        self.limits = limits or SandboxLimits()
        self.budget = budget or RunBudget.from_limits(self.limits)
        self.network = False
        self.slot = ProcessSlot()
        self.disk_exceeded = ""  # the sentence, once the workspace passed disk_mb: nothing more runs

    def launch(self, command: str, *, network: bool, env: Mapping[str, str] | None
               ) -> AbstractContextManager[Launch]:
        raise NotImplementedError

    def start_phase(self, phase: str, *, network: bool | None = None) -> None:
        """Setup has the network unless told otherwise; the agent phase has none unless the repository asks."""
        self.network = phase_network(phase, network)

    def cancel(self) -> None:
        """Kill the running command (from any thread); this sandbox runs nothing more."""
        self.slot.cancel()

    def close(self) -> None:
        """Free what the backend holds for the run; nothing, unless it says otherwise."""

    def run(self, command: str, *, timeout: float | None = None, network: bool | None = None,
            env: Mapping[str, str] | None = None, output_limit: int | None = None) -> CommandResult:
        if self.slot.cancelled.is_set():
            raise SandboxCancelled("the run was cancelled; no further command was run")
        self.budget.check()
        if self.disk_exceeded:
            raise DiskQuotaExceeded(self.disk_exceeded)
        timeout = min(timeout or self.limits.command_seconds, self.limits.command_seconds)
        caps = self._caps(timeout)
        output = OutputBuffer(output_limit or self.limits.output_bytes)
        with self.launch(command, network=self.network if network is None else network, env=env) as launch:
            outcome = run_process(launch, caps, output, self.slot)
        self.budget.spend(outcome.duration, output.total)
        if outcome.stopped_by == "cancelled":
            raise SandboxCancelled(f"the run was cancelled; `{_short(command)}` was stopped")
        self._check_disk(command)
        text = output.text()
        limits = replace(self.limits, run_seconds=self.budget.seconds, run_output_bytes=self.budget.output_bytes)
        hits = [explain_stop(outcome.stopped_by, limits, caps.seconds)] if outcome.stopped_by else []
        hits += [hit for hit in [explain_exit(outcome.exit_code, text, self.limits)] if hit[0]]
        notice = "\n".join(sentence for _, sentence in hits)
        if notice:
            text += ("\n" if text and not text.endswith("\n") else "") + notice
        return CommandResult(exit_code=outcome.exit_code, output=text, duration=outcome.duration,
                             timed_out=outcome.stopped_by in ("command_seconds", "run_seconds"),
                             truncated=output.truncated, limit=hits[0][0] if hits else "", notice=notice)

    def _check_disk(self, command: str) -> None:
        """Measured after every command, so a run that fills the disk stops at the command that did it."""
        use = measure_disk(self.workspace, self.limits.disk_mb * MB)
        if use.over:
            grown = {"bytes": f"more than {self.limits.disk_mb} MB of disk",
                     "entries": f"more than {MAX_ENTRIES:,} files and directories",
                     "unreadable": "a directory the worker cannot read (so cannot measure)"}[use.over]
            self.disk_exceeded = (f"the run was stopped: after `{_short(command)}` its workspace held {grown}, "
                                  f"over the run's disk quota of {self.limits.disk_mb} MB (CODEXBOT_DISK_MB)")
            raise DiskQuotaExceeded(self.disk_exceeded)

    def _caps(self, timeout: float) -> Caps:
        seconds_left, output_left = self.budget.seconds_left, self.budget.output_left
        return Caps(seconds=min(timeout, seconds_left),
                    deadline_limit="run_seconds" if seconds_left < timeout else "command_seconds",
                    output_bytes=min(self.limits.max_output_bytes, output_left),
                    output_limit="run_output_bytes" if output_left < self.limits.max_output_bytes
                    else "max_output_bytes",
                    memory_bytes=self.limits.memory_mb << 20)


def _short(command: str, limit: int = 60) -> str:
    line = " ".join(command.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
