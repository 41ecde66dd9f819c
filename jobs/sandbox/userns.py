"""A user namespace made by the root worker in which the sandbox user is an unprivileged host uid, not root."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import weakref

from jobs.sandbox.base import SANDBOX_UID, SYSTEM_PATH
from jobs.sandbox.limits import SandboxError

READY_SECONDS = 5.0
# Runs in the new namespace once its maps exist; the exec makes it root there (with the namespace's
# capabilities), and it forbids user namespaces below this one, as bwrap's --disable-userns would.
_SEAL = 'read go && exec sh -c "echo 0 > /proc/sys/user/max_user_namespaces"'


class UserNamespace:
    """Sandbox uid 1000 is host_uid; uid 0 is host root, used only by bwrap while it mounts, then dropped.

    bwrap joins it with --userns and sets up the mounts as root, so it can reach a workspace under a
    directory only root may enter; setpriv then drops the command to uid 1000 with no capabilities and
    no_new_privs. Unprivileged bwrap cannot do this: it resolves every mount source as the sandbox user.
    """

    def __init__(self, host_uid: int, host_gid: int):
        if host_uid == 0 or host_gid == 0:
            raise ValueError("the sandbox's host uid and gid must not be 0: commands would run as host root")
        self.host_uid, self.host_gid = host_uid, host_gid
        self.fd = _make_namespace(host_uid, host_gid)
        self._finalizer = weakref.finalize(self, os.close, self.fd)

    def close(self) -> None:
        self._finalizer()


def _make_namespace(host_uid: int, host_gid: int) -> int:
    unshare = shutil.which("unshare", path=SYSTEM_PATH)
    if unshare is None:
        raise SandboxError("`unshare` (util-linux) is not installed: the sandbox needs it to run commands "
                           "as an unprivileged user when the worker runs as root")
    holder = subprocess.Popen([unshare, "--user", "--", "sh", "-c", _SEAL], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/", env={"PATH": SYSTEM_PATH})
    try:
        _wait_for_namespace(holder)
        maps = {"uid_map": f"0 0 1\n{SANDBOX_UID} {host_uid} 1\n", "gid_map": f"0 0 1\n{SANDBOX_UID} {host_gid} 1\n"}
        for name, text in maps.items():
            with open(f"/proc/{holder.pid}/{name}", "w") as file:
                file.write(text)
        fd = os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        _, error = holder.communicate(b"go\n", timeout=READY_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"could not make the sandbox's user namespace ({exc}): allow user namespaces, "
                           "or run the worker where they are allowed") from exc
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    if holder.returncode != 0:
        os.close(fd)
        raise SandboxError(f"could not seal the sandbox's user namespace: {error.decode(errors='replace').strip()}")
    return fd


def _wait_for_namespace(holder: subprocess.Popen) -> None:
    mine = os.readlink("/proc/self/ns/user")
    deadline = time.monotonic() + READY_SECONDS
    while os.readlink(f"/proc/{holder.pid}/ns/user") == mine:
        if holder.poll() is not None or time.monotonic() > deadline:
            holder.kill()
            error = holder.communicate()[1].decode(errors="replace").strip()
            raise SandboxError(f"`unshare --user` could not make a user namespace: {error or 'it timed out'}")
        time.sleep(0.0005)
