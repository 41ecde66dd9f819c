"""What the sandbox's commands run on: the system's release and its interpreters' versions (the sandbox
mounts the system's /usr). Part of a set-up environment's key, so an upgrade sets up again.

Asking each tool its version takes a few hundred milliseconds (npm alone starts node), and every job runs in
a fresh process; so the answer is kept on disk under a fingerprint of the tools' files (where each resolves
to, its inode, size, modification and change times): an upgrade writes those files anew (even npm's, whose
packages all carry one fixed modification time, get a new change time), and the tools are asked again."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from jobs.sandbox.base import SYSTEM_PATH

TOOLS = (("python3", "--version"), ("node", "--version"), ("npm", "--version"), ("go", "version"),
         ("rustc", "--version"), ("ruby", "--version"), ("java", "-version"))
OS_RELEASE = Path("/etc/os-release")


def toolchain(cache: Path | None = None) -> str:
    """One line per tool found, after the system's release; kept in memory, and in `cache` (a folder) when given."""
    fingerprint = _fingerprint()
    if cache is not None:
        kept = cache / f"toolchain-{fingerprint}.txt"
        try:
            return kept.read_text()
        except OSError:
            pass
    lines = _versions(fingerprint)
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            partial = kept.with_suffix(f".{os.getpid()}.partial")
            partial.write_text(lines)
            partial.replace(kept)
        except OSError:
            pass  # asked again next time
    return lines


def _fingerprint() -> str:
    """A digest of the release file and of each tool's resolved path, inode, size and times."""
    digest = hashlib.sha256()
    for path in (OS_RELEASE, *(shutil.which(name, path=SYSTEM_PATH) for name, _ in TOOLS)):
        if path is None:
            digest.update(b"\0absent")
            continue
        try:
            real = os.path.realpath(path)
            info = os.stat(real)
            digest.update(f"\0{real}\0{info.st_ino}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ctime_ns}".encode())
        except OSError:
            digest.update(b"\0unreadable")
    return digest.hexdigest()[:32]


@lru_cache(maxsize=4)
def _versions(fingerprint: str) -> str:
    lines = []
    try:
        lines.append(hashlib.sha256(OS_RELEASE.read_bytes()).hexdigest()[:16])
    except OSError:
        lines.append("no os-release")
    for name, flag in TOOLS:
        found = shutil.which(name, path=SYSTEM_PATH)
        if found is None:
            continue
        try:
            proc = subprocess.run([found, flag], capture_output=True, text=True, timeout=20, cwd="/",
                                  env={"PATH": SYSTEM_PATH})
            lines.append(f"{name} {(proc.stdout + proc.stderr).strip()[:200]}")
        except (OSError, subprocess.TimeoutExpired):
            lines.append(f"{name} unknown")
    return "\n".join(lines)
