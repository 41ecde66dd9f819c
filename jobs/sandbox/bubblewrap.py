"""The default backend: bubblewrap, with the workspace at /workspace, a read-only system and no host secrets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from jobs.sandbox.base import DEFAULT_HOST_UID, SANDBOX_HOME, SANDBOX_UID, SYSTEM_PATH, WORKSPACE, build_env
from jobs.sandbox.limits import RunBudget, SandboxError, SandboxLimits
from jobs.sandbox.fence import Fence
from jobs.sandbox.ownership import WorkspaceOwner
from jobs.sandbox.hostdirs import EtcTree, SandboxHome
from jobs.sandbox.process import Launch, limited_command, pids_in_namespace
from jobs.sandbox.runner import CommandRunner
from jobs.sandbox.userns import UserNamespace

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64")
# The system's (or the image's) tools only, never the worker's own environment; a virtualenv or node_modules
# that setup made in the workspace comes first, so the agent and the tests use what setup installed.
SANDBOX_PATH = f"{WORKSPACE}/.venv/bin:{WORKSPACE}/node_modules/.bin:{SYSTEM_PATH}"
# The root worker's bwrap keeps only what setpriv needs to become uid 1000; setpriv then drops everything.
# It runs with capabilities, so it is named by absolute path and gets no environment but PATH.
DROP_TO_SANDBOX_USER = ("/usr/bin/setpriv", "--reuid", str(SANDBOX_UID), "--regid", str(SANDBOX_UID), "--clear-groups",
                        "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--")
KEPT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_READ_SEARCH")  # the last for --chdir /workspace


class BubblewrapSandbox(CommandRunner):
    """Commands run as an unprivileged host uid in new user, mount, PID, IPC, UTS and network namespaces. With the
    network on, a fenced sandbox keeps its own network namespace and reaches out only through the fence's
    egress proxy; without a fence (an explicit choice: `codexbot run --unfenced-network`) it shares the host's."""

    def __init__(self, workspace: Path, *, limits: SandboxLimits | None = None, budget: RunBudget | None = None,
                 bwrap: str = "bwrap", host_uid: int | None = None, host_gid: int | None = None,
                 fence: Fence | None = None):
        super().__init__(workspace, limits, budget)
        self.fence = fence
        self.bwrap = bwrap
        self.path = SANDBOX_PATH
        self.userns: UserNamespace | None = None
        self.owner: WorkspaceOwner | None = None
        if os.geteuid() == 0:
            if not os.access(DROP_TO_SANDBOX_USER[0], os.X_OK):
                raise SandboxError(f"{DROP_TO_SANDBOX_USER[0]} (util-linux) is missing: a root worker needs it "
                                   "to run commands as an unprivileged user; install util-linux")
            uid = DEFAULT_HOST_UID if host_uid is None else host_uid
            self.userns = UserNamespace(uid, uid if host_gid is None else host_gid)
            self.owner = WorkspaceOwner(self.workspace, self.userns.host_uid, self.userns.host_gid)
        elif host_uid not in (None, os.geteuid()):
            raise SandboxError(f"only a worker running as root can run commands as uid {host_uid}; "
                               f"this one runs as uid {os.geteuid()}, and so do its commands")
        self.etc = EtcTree()
        self.home = SandboxHome(self.host_uid, self.userns.host_gid if self.userns else os.getegid())

    @property
    def host_uid(self) -> int:
        """The uid the sandbox's commands have on the host."""
        return self.userns.host_uid if self.userns else os.geteuid()

    def start_phase(self, phase: str, *, network: bool | None = None) -> None:
        super().start_phase(phase, network=network)
        if self.fence is not None:
            self.fence.phase = phase

    def close(self) -> None:
        """Free the proxy, the namespace, /etc and home now rather than when the sandbox is collected."""
        if self.fence is not None:
            self.fence.close()
        self.etc.close()
        self.home.close()
        if self.userns is not None:
            self.userns.close()

    @contextmanager
    def launch(self, command: str, *, network: bool, env: Mapping[str, str] | None) -> Iterator[Launch]:
        if self.owner is not None:
            try:
                self.owner.claim()
            except OSError as error:
                raise SandboxError(f"the workspace {self.workspace} could not be handed to the sandbox's uid "
                                   f"{self.host_uid}: {error}") from error
        info_read, info_write = os.pipe()
        os.set_blocking(info_read, False)
        environment = build_env(env, path=self.path, home=SANDBOX_HOME)
        fenced = network and self.fence is not None
        if fenced:
            environment.update(self.fence.env())
            command = self.fence.wrap(command)
        argv = [self.bwrap, *self._identity(), *namespaces(network and not fenced), "--info-fd", str(info_write),
                *self._mounts(), *(self.fence.bwrap_args() if fenced else ()),
                "--clearenv", "--setenv", "PATH", SYSTEM_PATH, "--chdir", WORKSPACE, "--",
                *(DROP_TO_SANDBOX_USER if self.userns else ()),
                *limited_command(command, self.limits, environment, (self.userns.fd,) if self.userns else ())]
        fds = [info_write, *([self.userns.fd] if self.userns else [])]
        try:
            yield Launch(argv, cwd=self.workspace, env={"PATH": SYSTEM_PATH}, pass_fds=fds,
                         members=NamespaceMembers(info_read).pids)
        finally:
            os.close(info_read)
            os.close(info_write)
            if fenced:
                self.fence.drain()

    def _identity(self) -> list[str]:
        if self.userns is None:  # the worker's own unprivileged uid; bwrap maps it to 1000
            return ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--disable-userns",
                    "--cap-drop", "ALL"]
        return ["--userns", str(self.userns.fd), "--uid", "0", "--gid", "0", "--cap-drop", "ALL",
                *[a for cap in KEPT_CAPS for a in ("--cap-add", cap)]]

    def _mounts(self) -> list[str]:
        args = ["--ro-bind", "/usr", "/usr", "--ro-bind", str(self.etc.path), "/etc"]
        for name in self.etc.directories:
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        for name in SYSTEM_DIRS[1:]:
            if os.path.islink(name):
                args += ["--symlink", os.readlink(name), name]
            else:
                args += ["--ro-bind-try", name, name]
        for parent in _parents([Path(SANDBOX_HOME)]):  # else bwrap, as root, makes them 0700
            args += ["--perms", "0755", "--dir", str(parent)]
        size = str(self.limits.tmp_mb << 20)
        return args + ["--bind", str(self.workspace), WORKSPACE, "--proc", "/proc", "--dev", "/dev",
                       "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
                       "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
                       "--bind", str(self.home.path), SANDBOX_HOME]


def namespaces(network: bool) -> list[str]:
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
            "--die-with-parent", "--new-session"]
    return args if network else args + ["--unshare-net"]


class NamespaceMembers:
    """The command's processes: those in the pid namespace bwrap reports on its --info-fd."""

    def __init__(self, info_fd: int):
        self.info_fd, self.namespace, self.report = info_fd, "", b""

    def pids(self) -> Iterator[int]:
        if not self.namespace:
            try:
                self.report += os.read(self.info_fd, 4096)
                self.namespace = f"pid:[{json.loads(self.report)['pid-namespace']}]"
            except (BlockingIOError, ValueError):
                return iter(())  # not written yet
        return pids_in_namespace(self.namespace)


def _parents(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        for parent in reversed(path.parents[:-1]):
            if parent not in found:
                found.append(parent)
    return found


@lru_cache(maxsize=None)
def check_bwrap() -> str:
    """The path of a bwrap that can build our sandbox here, or a SandboxError saying why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxError("bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap) "
                           "or choose sandbox 'subprocess' for local development only")
    probe = BubblewrapSandbox(Path("/"), bwrap=bwrap)
    try:
        argv = [bwrap, *probe._identity(), *namespaces(network=False), "--ro-bind", "/", "/", "--",
                *(DROP_TO_SANDBOX_USER if probe.userns else ()), *limited_command("true", probe.limits)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"PATH": SYSTEM_PATH},
                                pass_fds=[probe.userns.fd] if probe.userns else [])
    finally:
        probe.close()
    if result.returncode != 0:
        raise SandboxError(f"bubblewrap cannot create a sandbox here ({result.stderr.strip()}): allow "
                           "unprivileged user namespaces or run the worker where they are allowed")
    return bwrap
