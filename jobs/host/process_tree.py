"""Process trees read from /proc, so a supervisor can stop a child with everything it started and leave no orphan."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


@functools.lru_cache(maxsize=1)
def _prctl_function():
    return ctypes.CDLL(None, use_errno=True).prctl  # looked up in the parent, never between fork and exec


def _prctl(option: int, value: int) -> None:
    if _prctl_function()(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")


def become_subreaper() -> None:
    """Orphans of our children (an RQ work horse whose worker was killed) are re-parented to us, not to init."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent() -> None:
    """Run in a child between fork and exec: it gets SIGTERM if the supervisor itself is killed."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # gone, or exited while we looked


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def descendants(pid: int) -> set[int]:
    """pid's children, their children and so on (not pid itself)."""
    found: set[int] = set()
    todo = children(pid)
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children(current))
    return found


def alive(pid: int) -> bool:
    """Running and not a zombie (a zombie is dead; its parent just has not reaped it yet)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def describe(pid: int) -> str:
    """pid, command and state, as `ps` would show them."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:80]
    except OSError:
        command = ""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            command = command or comm.read().strip()
    except OSError:
        command = command or "?"
    return f"{pid} {command}"


def send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # already gone


def kill_tree(pid: int) -> set[int]:
    """SIGKILL pid and every descendant; they are frozen first so none can fork a new one in between."""
    frozen: set[int] = set()
    for _ in range(100):  # a tree that keeps growing under SIGSTOP is impossible; bounded all the same
        fresh = ({pid} | descendants(pid)) - frozen
        if not fresh:
            break
        for p in fresh:
            send(p, signal.SIGSTOP)
        frozen |= fresh
    for p in frozen:
        send(p, signal.SIGKILL)
    return frozen


def reap_zombies(known: set[int]) -> list[str]:
    """Reap exited orphans (a sandbox's bwrap, a work horse that outlived its worker) so they do not pile up."""
    out = []
    for pid in children(os.getpid()):
        fields = stat_fields(pid)
        if pid not in known and fields is not None and fields[0] == "Z":
            out.append(describe(pid))
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass  # reaped meanwhile
    return out


def reap_orphans(known: set[int], timeout: float = 5.0) -> list[str]:
    """Kill and reap our children that no Popen owns (orphans re-parented to us as subreaper); what the live
    ones were (the exited ones are only reaped)."""
    orphans = [p for p in children(os.getpid()) if p not in known]
    found = [describe(p) for p in orphans if alive(p)]
    for pid in orphans:
        kill_tree(pid)
    deadline = time.monotonic() + timeout
    for pid in orphans:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break  # not ours to reap after all
            time.sleep(0.02)
    return found
