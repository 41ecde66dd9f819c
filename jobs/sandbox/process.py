"""Start one command, pump its output, and stop it on a deadline, an output cap, a memory cap or a cancel."""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobs.sandbox.limits import SandboxError, SandboxLimits

READ_CHUNK = 65536
DRAIN_SECONDS = 5.0
POLL_SECONDS = 0.2
MEMORY_CHECK_SECONDS = 0.25
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Launch:
    """How to start one command; `members` lists the host pids of its processes (for the memory cap)."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    pass_fds: Sequence[int] = ()
    members: Callable[[], Iterator[int]] | None = None
    on_started: Callable[[subprocess.Popen], None] = field(default=lambda process: None)


@dataclass(frozen=True)
class Caps:
    """When the pump stops a command: each cap comes with the limit name reported when it bites."""

    seconds: float  # wall time from the start
    deadline_limit: str
    output_bytes: int
    output_limit: str
    memory_bytes: int


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stopped_by: str  # a limit name, "cancelled", or "" when the command ended by itself
    duration: float


class ProcessSlot:
    """The command running now, so that another thread can cancel it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self.cancelled = threading.Event()

    def hold(self, process: subprocess.Popen | None) -> None:
        with self._lock:
            self._process = process
        if process is not None and self.cancelled.is_set():
            kill_group(process)  # cancel() came between the start and now

    def cancel(self) -> None:
        self.cancelled.set()
        with self._lock:
            if self._process is not None:
                kill_group(self._process)


def run_process(launch: Launch, caps: Caps, output: OutputBuffer, slot: ProcessSlot) -> Outcome:
    """Run the launch in its own process group; whatever stops it, SIGKILL the whole group at the end."""
    started = time.monotonic()
    try:
        process = subprocess.Popen(launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                   pass_fds=tuple(launch.pass_fds))
    except OSError as error:
        raise SandboxError(f"could not start {launch.argv[0]} in {launch.cwd}: {error.strerror}; "
                           "check that it is installed and the workspace exists") from error
    with process:
        slot.hold(process)
        try:
            launch.on_started(process)
            stopped_by = _pump(process, output, caps, started + caps.seconds, launch.members, slot.cancelled)
            stopped_by = "cancelled" if slot.cancelled.is_set() else stopped_by  # cancel() killed it: EOF came first
        finally:
            kill_group(process)  # also ends background children that would hold the pipe open
            slot.hold(None)
        _drain(process, output)  # what was written before the end
        code = process.wait()
    return Outcome(exit_code=128 - code if code < 0 else code, stopped_by=stopped_by,
                   duration=time.monotonic() - started)


def _pump(process: subprocess.Popen, output: OutputBuffer, caps: Caps, deadline: float,
          members: Callable[[], Iterator[int]] | None, cancelled: threading.Event) -> str:
    """Read output until EOF or exit; the name of the cap that stopped the command first, else ""."""
    fd = process.stdout.fileno()
    next_check = time.monotonic() + MEMORY_CHECK_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not cancelled.is_set():
            now = time.monotonic()
            if now >= deadline:
                return caps.deadline_limit
            if members is not None and now >= next_check:
                next_check = now + MEMORY_CHECK_SECONDS
                if resident_bytes(members()) > caps.memory_bytes:
                    return "memory_mb"
            if selector.select(min(deadline - now, POLL_SECONDS, max(next_check - now, 0.001))):
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    return ""
                output.feed(chunk)
                if output.total > caps.output_bytes:
                    return caps.output_limit
            elif process.poll() is not None:
                return ""
    return "cancelled"


def _drain(process: subprocess.Popen, output: OutputBuffer) -> None:
    fd = process.stdout.fileno()
    deadline = time.monotonic() + DRAIN_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0 and selector.select(min(remaining, POLL_SECONDS)):
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                return
            output.feed(chunk)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is already gone


def resident_bytes(pids: Iterator[int]) -> int:
    """Private resident memory of the processes (resident minus file-backed and shared pages)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as file:
                fields = file.read().split()
        except OSError:
            continue  # it ended while we looked
        total += (int(fields[1]) - int(fields[2])) * PAGE
    return total


def pids_in_namespace(namespace: str) -> Iterator[int]:
    """Host pids of the processes whose pid namespace is `namespace` ("pid:[inode]")."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == namespace:
                    yield int(name)
            except OSError:
                continue  # ended, or not ours to look at


def pids_in_session(session: int) -> Iterator[int]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as file:
                    stat = file.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2:].split()[3]) == session:
                yield int(name)


def limited_command(command: str, limits: SandboxLimits, env: Mapping[str, str] | None = None,
                    close_fds: tuple[int, ...] = ()) -> list[str]:
    """bash that exports env, sets the per-process limits, then runs the command (no preexec_fn: threads).

    All of it goes on the command's own first line, so bash starts once and its line numbers stay the
    user's. Exporting env here, not through bwrap, keeps it away from setpriv, which still holds capabilities
    (LD_PRELOAD would run code there). Plain `ulimit -X n` sets soft and hard limits, so the command cannot
    raise them again; the hard CPU limit comes 5 s after the soft one: SIGXCPU first (reported), then SIGKILL.
    """
    kib = 1024  # bash counts -f and -d in KiB
    limit = (f"ulimit -c 0 -f {limits.file_size_mb * kib} -u {limits.processes} -d {limits.data_mb * kib}"
             f" && ulimit -S -t {limits.cpu_seconds} && ulimit -H -t {limits.cpu_seconds + 5} || exit 126;")
    exports = [f"{key}={shlex.quote(value)}" for key, value in (env or {}).items()]
    # descriptors the launch needed (the user namespace bwrap entered) are closed before the command runs
    closes = "".join(f"exec {int(fd)}<&- ; " for fd in close_fds)
    return ["bash", "-c", closes + (f"export {' '.join(exports)} && " if exports else "") + f"{limit} {command}"]


class OutputBuffer:
    """Keeps the first and last bytes of a stream within a limit while counting all of it."""

    def __init__(self, limit: int):
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.tail_limit:
            del self.tail[:len(self.tail) - self.tail_limit]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        if not self.truncated:
            return (self.head + self.tail).decode("utf-8", "replace")
        cut = self.total - len(self.head) - len(self.tail)
        return (self.head.decode("utf-8", "replace") + f"\n[… {cut} bytes cut …]\n"
                + self.tail.decode("utf-8", "replace"))
