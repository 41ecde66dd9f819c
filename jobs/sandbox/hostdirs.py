"""Host directories a sandbox keeps for its lifetime: its /etc (read-only) and its home (read-write)."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

from jobs.sandbox.base import SANDBOX_HOME, SANDBOX_UID

# Only what programs need from /etc: /etc/shadow, ssh keys and the like are never copied.
ETC_FILES = ("hosts", "resolv.conf", "nsswitch.conf", "host.conf", "gai.conf", "ld.so.cache", "ld.so.conf",
             "alternatives", "ssl/certs", "ssl/openssl.cnf", "localtime", "timezone", "mime.types", "protocols",
             "services", "gitconfig", "os-release", "bash.bashrc", "inputrc")
PASSWD = ("root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
          f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:{SANDBOX_HOME}:/bin/bash\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
GROUP = f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"


class EtcTree:
    """Made once per sandbox: files are copied, directories (many links each) get a bind mount of their own."""

    def __init__(self, source: Path = Path("/etc")):
        self.path = Path(tempfile.mkdtemp(prefix="codexbot-etc-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, True)
        self.path.chmod(0o755)
        self.directories = tuple(name for name in ETC_FILES if (source / name).is_dir())
        for name in ETC_FILES:
            _copy(source / name, self.path / name)
        for name, text in (("passwd", PASSWD), ("group", GROUP)):
            (self.path / name).write_text(text)
            (self.path / name).chmod(0o644)

    def close(self) -> None:
        self._finalizer()


class SandboxHome:
    """The home of the run: it outlives each command, so what setup installs there (pip --user, caches) stays."""

    def __init__(self, uid: int, gid: int):
        self.path = Path(tempfile.mkdtemp(prefix="codexbot-home-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, True)
        if (uid, gid) != (os.geteuid(), os.getegid()):
            os.chown(self.path, uid, gid)

    def close(self) -> None:
        self._finalizer()


def _copy(source: Path, target: Path) -> None:
    """A file's content (resolv.conf may link into /run); for a directory, the empty dir its bind mount needs."""
    if not source.exists() or not source.stat().st_mode & 0o004:
        return  # what the host keeps from other users stays out of the sandbox too
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    if source.is_dir():
        target.mkdir(mode=0o755)
    else:
        shutil.copyfile(source, target)
        target.chmod(0o644)
