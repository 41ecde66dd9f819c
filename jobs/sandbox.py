"""Run a shell command in a workspace under bubblewrap, with a timeout, an output cap and a clean environment."""

from __future__ import annotations

import fnmatch
import logging
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

log = logging.getLogger("codexbot.sandbox")

WORKSPACE = "/workspace"
SANDBOX_HOME = "/home/sandbox"
SANDBOX_UID = 1000
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64")
# Only what programs need from /etc: inside the user namespace the host's root-owned files
# look like the sandbox user's own, so /etc/shadow and friends must never be mounted.
ETC_FILES = ("hosts", "nsswitch.conf", "host.conf", "gai.conf", "ld.so.cache", "ld.so.conf",
             "ld.so.conf.d", "alternatives", "ssl/certs", "ssl/openssl.cnf", "ca-certificates",
             "localtime", "timezone", "mime.types", "protocols", "services", "gitconfig",
             "os-release", "bash.bashrc", "inputrc", "terminfo")
PASSWD = (f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:{SANDBOX_HOME}:/bin/bash\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
GROUP = f"sandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"

FILE_SIZE_LIMIT = 1 << 30  # bytes one file may grow to
PROCESS_LIMIT = 1024
CPU_SECONDS_LIMIT = 3600  # per process; the wall-clock timeout is the main brake
ADDRESS_SPACE_LIMIT = 8 << 30
ULIMITS = (("f", FILE_SIZE_LIMIT // 1024), ("u", PROCESS_LIMIT), ("t", CPU_SECONDS_LIMIT),
           ("v", ADDRESS_SPACE_LIMIT // 1024))  # bash's ulimit counts -f and -v in KiB

SECRET_PATTERNS = ("OPENAI_*", "CODEXBOT_*", "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN",
                   "*_TOKEN", "*_KEY", "*_SECRET", "*PASSWORD*")
READ_CHUNK = 65536
DRAIN_SECONDS = 5.0


class SandboxError(Exception):
    """The sandbox could not be set up or could not start a command."""


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str
    duration: float
    timed_out: bool = False
    truncated: bool = False


class Sandbox(Protocol):
    workspace: Path

    def run(self, command: str, *, timeout: float = 600, network: bool = False,
            env: Mapping[str, str] | None = None, output_limit: int = 100_000) -> CommandResult: ...


def make_sandbox(kind: str, workspace: Path) -> Sandbox:
    """The one place that picks a concrete sandbox; `kind` comes from the settings."""
    if kind == "bwrap":
        bwrap = check_bwrap()
        return BubblewrapSandbox(workspace, ro_paths=find_host_python(os.environ.get("PATH", SYSTEM_PATH)),
                                 bwrap=bwrap)
    if kind == "subprocess":
        return SubprocessSandbox(workspace)
    raise ValueError(f"sandbox kind must be 'bwrap' or 'subprocess', not {kind!r}")


class BubblewrapSandbox:
    """The default: the workspace at /workspace, a read-only system, no network unless asked, uid 1000."""

    def __init__(self, workspace: Path, *, ro_paths: Sequence[Path] = (), bwrap: str = "bwrap"):
        self.workspace = Path(workspace).resolve()
        self.ro_paths = tuple(Path(p) for p in ro_paths)
        self.bwrap = bwrap

    def run(self, command: str, *, timeout: float = 600, network: bool = False,
            env: Mapping[str, str] | None = None, output_limit: int = 100_000) -> CommandResult:
        path = ":".join([*(f"{p}/bin" for p in self.ro_paths), SYSTEM_PATH])
        environment = build_env(env, path=path, home=SANDBOX_HOME)
        data_fds = [_data_fd(PASSWD), _data_fd(GROUP)]
        argv = [self.bwrap, *self._mounts(network, data_fds), *_namespaces(network),
                "--clearenv", *[a for k, v in environment.items() for a in ("--setenv", k, v)],
                "--chdir", WORKSPACE, "--", *limited_shell(command)]
        try:
            return run_process(argv, cwd=self.workspace, env={"PATH": SYSTEM_PATH}, timeout=timeout,
                               output_limit=output_limit, pass_fds=data_fds)
        finally:
            for fd in data_fds:
                os.close(fd)

    def _mounts(self, network: bool, data_fds: list[int]) -> list[str]:
        args = ["--ro-bind", "/usr", "/usr"]
        for name in SYSTEM_DIRS[1:]:
            if os.path.islink(name):
                args += ["--symlink", os.readlink(name), name]
            else:
                args += ["--ro-bind-try", name, name]
        for name in ETC_FILES + (("resolv.conf",) if network else ()):
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind-data", str(data_fds[0]), "/etc/passwd",
                 "--ro-bind-data", str(data_fds[1]), "/etc/group"]
        for prefix in self.ro_paths:
            args += ["--ro-bind", str(prefix), str(prefix)]
        return args + ["--bind", str(self.workspace), WORKSPACE, "--proc", "/proc", "--dev", "/dev",
                       "--tmpfs", "/tmp", "--tmpfs", SANDBOX_HOME]


def _namespaces(network: bool) -> list[str]:
    args = ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--disable-userns",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session"]
    return args if network else args + ["--unshare-net"]


class SubprocessSandbox:
    """No isolation at all: the command runs as the worker's own user. For development only."""

    def __init__(self, workspace: Path):
        self.workspace = Path(workspace).resolve()
        log.warning("SubprocessSandbox runs agent commands WITHOUT isolation as the worker's own user, "
                    "with its network and files; use sandbox 'bwrap' for anything but local development")

    def run(self, command: str, *, timeout: float = 600, network: bool = False,
            env: Mapping[str, str] | None = None, output_limit: int = 100_000) -> CommandResult:
        with tempfile.TemporaryDirectory(prefix="codexbot-home-") as home:
            environment = build_env(env, path=os.environ.get("PATH", SYSTEM_PATH), home=home)
            return run_process(limited_shell(command), cwd=self.workspace, env=environment,
                               timeout=timeout, output_limit=output_limit)


def build_env(extra: Mapping[str, str] | None, *, path: str, home: str) -> dict[str, str]:
    """The allowlisted environment plus the caller's, minus anything that looks like a secret."""
    env = {"PATH": path, "HOME": home, "USER": "sandbox", "LANG": "C.UTF-8", "TERM": "dumb",
           "PYTHONDONTWRITEBYTECODE": "1", "CI": "true"}
    for key, value in (extra or {}).items():
        if looks_secret(key):
            log.warning("left %s out of the sandbox environment: it looks like a secret, "
                        "and commands in the sandbox never get secrets", key)
            continue
        env[key] = value
    return env


def looks_secret(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key.upper(), pattern) for pattern in SECRET_PATTERNS)


def run_process(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float,
                output_limit: int, pass_fds: Sequence[int] = ()) -> CommandResult:
    """Run argv in its own process group; on timeout SIGKILL the whole group."""
    started = time.monotonic()
    output = OutputBuffer(output_limit)
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True, pass_fds=tuple(pass_fds))
    except OSError as error:
        raise SandboxError(f"could not start {argv[0]} in {cwd}: {error.strerror}; "
                           "check that it is installed and the workspace exists") from error
    with process:
        timed_out = _pump(process, output, started + timeout)
        _kill_group(process)  # also ends background children that would hold the pipe open
        _pump(process, output, time.monotonic() + DRAIN_SECONDS)  # what was written before the end
        code = process.wait()
    text = output.text()
    if timed_out:
        text += "\n" if text and not text.endswith("\n") else ""
        text += f"command exceeded {timeout:g} s and was stopped"
    return CommandResult(exit_code=128 - code if code < 0 else code, output=text,
                         duration=time.monotonic() - started, timed_out=timed_out,
                         truncated=output.truncated)


def limited_shell(command: str) -> list[str]:
    """bash that sets the resource limits, then runs the command (a preexec_fn is unsafe with threads)."""
    limits = " ".join(f"ulimit -{flag} {value} 2>/dev/null;" for flag, value in ULIMITS)
    return ["bash", "-c", f'{limits} exec bash -c "$1"', "bash", command]


def _pump(process: subprocess.Popen, output: OutputBuffer, deadline: float) -> bool:
    """Read output until EOF or the process exits; True when the deadline passed first."""
    fd = process.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if selector.select(min(remaining, 0.2)):
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    return False
                output.feed(chunk)
            elif process.poll() is not None:
                return False
    return True


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is already gone


def _data_fd(text: str) -> int:
    """A pipe holding text, for bwrap's --ro-bind-data (small enough for the pipe buffer)."""
    read_end, write_end = os.pipe()
    os.write(write_end, text.encode())
    os.close(write_end)
    return read_end


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


@lru_cache(maxsize=None)
def check_bwrap() -> str:
    """The path of a bwrap that can build our sandbox here, or a SandboxError saying why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxError("bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap) "
                           "or choose sandbox 'subprocess' for local development only")
    probe = subprocess.run([bwrap, *_namespaces(network=False), "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True, timeout=30, env={"PATH": SYSTEM_PATH})
    if probe.returncode != 0:
        raise SandboxError(f"bubblewrap cannot create a sandbox here ({probe.stderr.strip()}): allow "
                           "unprivileged user namespaces or run the worker where they are allowed")
    return bwrap


@lru_cache(maxsize=None)
def find_host_python(path: str) -> tuple[Path, ...]:
    """Prefixes of the python3 (and pytest's interpreter) found on PATH that live outside /usr."""
    interpreters = [shutil.which("python3", path=path), _shebang(shutil.which("pytest", path=path))]
    prefixes: list[Path] = []
    for interpreter in filter(None, interpreters):
        probe = subprocess.run([interpreter, "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
                               capture_output=True, text=True, timeout=30, cwd="/", env={"PATH": path})
        for line in probe.stdout.split() if probe.returncode == 0 else ():
            prefix = Path(line).resolve()
            if _bindable(prefix) and prefix not in prefixes:
                prefixes.append(prefix)
    return tuple(prefixes)


def _shebang(script: str | None) -> str | None:
    """The interpreter named on a script's #! line, unless it is a generic `env` launcher."""
    if script is None:
        return None
    with open(script, "rb") as file:
        first = file.readline(512)
    words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
    return words[0] if words and not words[0].endswith("/env") else None


def _bindable(prefix: Path) -> bool:
    homes = {Path.home().resolve(), Path("/root"), Path("/home"), Path("/")}
    system = any(prefix.is_relative_to(d) for d in SYSTEM_DIRS)
    return prefix.is_dir() and not system and prefix not in homes and prefix.parent != Path("/home")
