"""The key of a repository's set-up environment: what setup produced depends only on the repository, its setup
commands, its dependency manifests and lockfiles, and the toolchain it ran on. Same key, same environment."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jobs.repo.config import RepoConfig
from jobs.sandbox.files import PlantedFile, read_regular

FORMAT = "codexbot-environment-1"
MANIFESTS = (
    "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", ".npmrc",
    "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "requirements-dev.txt", "requirements-test.txt",
    "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock", "go.mod", "go.sum", "Cargo.toml", "Cargo.lock",
    "Gemfile", "Gemfile.lock", ".python-version", ".nvmrc", ".tool-versions",
)
MAX_MANIFEST = 20 << 20


def environment_key(scope: str, workdir: Path, config: RepoConfig, toolchain: str) -> str:
    """A hex digest of everything setup's result depends on; `scope` keeps repositories apart (one never gets
    an environment another made)."""
    digest = hashlib.sha256()
    facts = {"format": FORMAT, "scope": scope, "commands": list(config.setup_commands),
             "secrets": list(config.setup_secrets), "toolchain": toolchain}
    digest.update(json.dumps(facts, sort_keys=True).encode())
    for name in (*MANIFESTS, *sorted(_requirement_files(workdir))):
        digest.update(f"\0{name}\0".encode())
        try:
            digest.update(hashlib.sha256(read_regular(workdir / name, MAX_MANIFEST)).digest())
        except FileNotFoundError:
            digest.update(b"absent")
        except (OSError, PlantedFile):
            digest.update(b"unreadable")  # a link or a FIFO: still a key, never a read through it
    return digest.hexdigest()


def baseline_key(scope: str, base_sha: str, command: str, config: RepoConfig, toolchain: str) -> str:
    """The key of the tests' result on a base commit: the same commit, setup, command and toolchain give the
    same result (tests that depend on the time or the network are the exception; `[test] baseline = false`)."""
    facts = {"format": FORMAT, "scope": scope, "base": base_sha, "command": command, "toolchain": toolchain,
             "setup": list(config.setup_commands), "timeout": config.test_timeout}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _requirement_files(workdir: Path) -> list[str]:
    folder = workdir / "requirements"
    if folder.is_symlink() or not folder.is_dir():
        return []
    return [f"requirements/{p.name}" for p in list(folder.glob("*.txt"))[:50]]
