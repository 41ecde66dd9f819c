"""The network fence of a sandbox: a phase with the network on gets its own network namespace (only an isolated
loopback), and its only way out is the egress proxy on the host side, reached through a Unix socket bound into
the sandbox. Inside, socat (Debian's, well kept) turns that socket into an ordinary HTTP proxy on
127.0.0.1:3128, which pip, npm, git, curl and the rest find in HTTP(S)_PROXY. Nothing else leaves: no raw TCP,
no UDP, no DNS, not the host's loopback."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jobs.sandbox.allowlist import Allowlist
from jobs.sandbox.egress import EgressProxy, Refused
from jobs.sandbox.limits import SandboxError

INSIDE_DIR = "/run/codexbot-egress"
PROXY_PORT = 3128
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
MAX_DISTINCT = 200  # hosts refused between two reports; more are dropped (the first ones tell the story)
_LISTENING = f"0100007F:{PROXY_PORT:04X} 00000000:0000 0A"  # /proc/net/tcp: 127.0.0.1:3128 in LISTEN


@dataclass(frozen=True)
class FencePolicy:
    """What a run's fenced phases may reach, and where a refused domain could be allowed (for the run log)."""

    allowlist: Allowlist
    allow_hint: str = "add it to [network] allow in .codexbot.toml"
    without_fence: str = ""  # what the user can do where the fence cannot be built (`codexbot run`'s flag)


@dataclass(frozen=True)
class Refusal:
    phase: str
    target: str  # what was asked for: "CONNECT example.org:443" or "GET http://…"
    host: str
    kind: str  # Refused.kind: unlisted, unsafe, address, unresolved, malformed
    line: str  # the run log's sentence; "" when this host was already reported in this phase
    count: int = 1  # connections refused alike since the last report


@lru_cache(maxsize=None)
def check_fence() -> str:
    """The path of socat, or a SandboxError saying the fence cannot be built here and what to do."""
    socat = shutil.which("socat", path="/usr/bin:/bin")
    if socat is None:
        raise SandboxError("the network fence needs socat inside the sandbox and it is not installed: install it "
                           "(apt-get install socat); until then no command can have the network")
    return socat


class Fence:
    """One egress proxy for one sandbox, started on the first fenced command and stopped with the sandbox.
    Refusals are collected from the proxy's threads and handed to `report` by the sandbox's own thread."""

    def __init__(self, policy: FencePolicy, report: Callable[[Refusal], None]):
        self.policy, self.report, self.phase = policy, report, "setup"
        self.socat = ""
        self._proxy: EgressProxy | None = None
        self._dir: Path | None = None
        self._refused: dict[tuple[str, str, str], tuple[str, str, int]] = {}  # since the last drain
        self._reported: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def bwrap_args(self) -> list[str]:
        """The mounts that put the proxy's socket in the sandbox."""
        self._start()
        return ["--perms", "0755", "--dir", str(Path(INSIDE_DIR).parent),  # else bwrap, as root, makes it 0700
                "--ro-bind", str(self._dir), INSIDE_DIR]

    def _start(self) -> None:
        """Start the proxy unless it runs: on the first fenced command, so a run without one needs no socat."""
        if self._proxy is None:
            try:
                self.socat = check_fence()
            except SandboxError as error:
                raise SandboxError(f"{error}{self.policy.without_fence}") from None
            self._dir = Path(tempfile.mkdtemp(prefix="codexbot-egress-"))
            os.chmod(self._dir, 0o755)  # the sandbox's uid must reach the socket inside
            self._proxy = EgressProxy(self._dir / "proxy.sock", self.policy.allowlist, self._refuse).start()

    def env(self) -> dict[str, str]:
        names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "npm_config_proxy",
                 "npm_config_https_proxy")
        return {**{name: PROXY_URL for name in names}, "NO_PROXY": "", "no_proxy": ""}

    def wrap(self, command: str) -> str:
        """The command, after a forwarder from 127.0.0.1:3128 to the proxy's socket has started listening. The
        forwarder is a grandchild, so a `wait` in the command does not wait for it; it ends with the sandbox."""
        self._start()
        forward = (f"( exec {self.socat} TCP-LISTEN:{PROXY_PORT},bind=127.0.0.1,fork,reuseaddr,nodelay "
                   f"UNIX-CONNECT:{INSIDE_DIR}/proxy.sock </dev/null >/dev/null 2>&1 & ); "
                   f"for _ in {{1..500}}; do grep -qs '{_LISTENING}' /proc/net/tcp && break; sleep 0.01; done; ")
        return forward + command

    def drain(self) -> None:
        """Report what was refused since the last call, in the caller's thread: one line per host, phase and
        reason the first time, then only counted (a loop of refused connections cannot flood the log)."""
        with self._lock:
            refused, self._refused = self._refused, {}
        for (phase, host, kind), (target, line, count) in refused.items():
            first = (phase, host, kind) not in self._reported
            self._reported.add((phase, host, kind))
            self.report(Refusal(phase, target, host, kind, line if first else "", count))

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        self.drain()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _refuse(self, target: str, error: Refused) -> None:
        host, target = _printable(error.host or target), _printable(target)
        if error.kind == "unlisted":
            line = f"{self.phase} tried to reach {host}: {self.policy.allow_hint}"
        elif error.kind == "unsafe":
            line = f"{self.phase} tried to reach {host}, refused: {_printable(str(error))}; no setting allows that"
        else:
            line = f"{self.phase} tried to reach {host}, refused: {_printable(str(error))}"
        key = (self.phase, host, error.kind)
        with self._lock:
            if key in self._refused or len(self._refused) < MAX_DISTINCT:
                first_target, first_line, count = self._refused.get(key, (target, line, 0))
                self._refused[key] = (first_target, first_line, count + 1)


def _printable(text: str, limit: int = 200) -> str:
    """What the sandbox sent, safe for a log line and a terminal: no control characters, bounded."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])
