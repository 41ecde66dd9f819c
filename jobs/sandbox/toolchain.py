"""What the sandbox's commands run on: the system's release and its interpreters' versions (the sandbox
mounts the system's /usr). Part of a set-up environment's key, so an upgrade sets up again."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from jobs.sandbox.base import SYSTEM_PATH

TOOLS = (("python3", "--version"), ("node", "--version"), ("npm", "--version"), ("go", "version"),
         ("rustc", "--version"), ("ruby", "--version"), ("java", "-version"))


@lru_cache(maxsize=None)
def toolchain() -> str:
    """One line per tool found, after the system's release; computed once per process."""
    lines = []
    try:
        lines.append(hashlib.sha256(Path("/etc/os-release").read_bytes()).hexdigest()[:16])
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
