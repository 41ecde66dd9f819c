"""Which command runs a repository's tests, found from its files the way a newcomer would: the `test` script of
package.json (with the package manager its lockfile names), tox or nox, pytest or unittest layouts, go, cargo,
make. `[test] command` in .codexbot.toml always wins. Files are read as hostile input: regular files only, capped.

tox and nox make a virtualenv per session and install into it, which needs the network the tests do not
have; so they are chosen only when the sandbox has them (the system's, or the workspace's .venv) and setup
already made their environments (`.tox/`, `.nox/`: `tox --notest`, `nox --install-only`). Otherwise the
Python layout decides, as for any Python project."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from jobs.sandbox.base import SYSTEM_PATH
from jobs.sandbox.files import PlantedFile, read_regular

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox", "target", "vendor"}
NPM_PLACEHOLDER = "no test specified"  # what `npm init` puts in scripts.test
MAX_MANIFEST = 1 << 20
MAX_SCAN = 20_000  # .py files looked at for Python tests
MAX_VISITS = 200_000  # entries of the tree visited to find them


def detect_test_command(workdir: Path, configured: str | None) -> str | None:
    """The configured command, else the first ecosystem whose tests the repository has, else None."""
    if configured:
        return configured
    for find in (_javascript, _tox, _nox, _python, _go, _cargo, _make):
        command = find(workdir)
        if command:
            return command
    return None


def _read(path: Path) -> str | None:
    """A manifest's text; None when it is missing, not a regular file (a link, a FIFO) or too big."""
    try:
        return read_regular(path, MAX_MANIFEST).decode("utf-8", "replace")
    except (OSError, PlantedFile):
        return None


def _javascript(workdir: Path) -> str | None:
    text = _read(workdir / "package.json")
    if text is None:
        return None
    try:
        scripts = json.loads(text).get("scripts") or {}
    except (ValueError, AttributeError):
        return None
    test = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(test, str) or not test.strip() or NPM_PLACEHOLDER in test:
        return None
    if (workdir / "pnpm-lock.yaml").is_file():
        return "pnpm test"
    if (workdir / "yarn.lock").is_file():
        return "yarn test"
    return "npm test"


def _tox(workdir: Path) -> str | None:
    configured = (_regular(workdir / "tox.ini") or "[tool.tox]" in (_read(workdir / "pyproject.toml") or "")
                  or "[tox:tox]" in (_read(workdir / "setup.cfg") or ""))
    if configured and _prepared(workdir, ".tox") and _in_sandbox(workdir, "tox"):
        return "tox --skip-missing-interpreters true"  # the envs whose Python the system lacks are skipped
    return None


def _nox(workdir: Path) -> str | None:
    if _regular(workdir / "noxfile.py") and _prepared(workdir, ".nox") and _in_sandbox(workdir, "nox"):
        return "nox --reuse-existing-virtualenvs --no-install --no-error-on-missing-interpreters"
    return None


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _prepared(workdir: Path, folder: str) -> bool:
    """Setup made the runner's environments: a real folder with at least one environment in it."""
    path = workdir / folder
    return path.is_dir() and not path.is_symlink() and any(True for _ in os.scandir(path))


def _in_sandbox(workdir: Path, program: str) -> bool:
    """The program is on the sandbox's PATH: in the workspace's virtualenv, or the system's."""
    return os.path.lexists(workdir / ".venv" / "bin" / program) or shutil.which(program, path=SYSTEM_PATH) is not None


def _python(workdir: Path) -> str | None:
    unittest_layout = False
    for count, path in enumerate(_python_files(workdir)):
        if count > MAX_SCAN:
            break
        name = path.name
        if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
            return "python3 -m pytest -q"
        if name in ("test.py", "tests.py"):
            unittest_layout = True
    pyproject = _read(workdir / "pyproject.toml") or ""
    if (workdir / "pytest.ini").is_file() or "[tool.pytest" in pyproject:
        return "python3 -m pytest -q"
    if unittest_layout:  # test.py / tests.py: unittest finds them (pytest's default patterns do not)
        return "python3 -m unittest discover -v -p 'test*.py'"
    return None


def _python_files(workdir: Path):
    """The .py files of the tree, without descending into dependency folders or links, and visiting at most
    MAX_VISITS entries in all (setup may leave millions of files; the host walks them)."""
    visited = 0
    for folder, dirs, files in os.walk(workdir, followlinks=False):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        visited += len(dirs) + len(files)
        for name in files:
            if name.endswith(".py") and not os.path.islink(os.path.join(folder, name)):
                yield Path(folder, name)
        if visited > MAX_VISITS:
            return


def _go(workdir: Path) -> str | None:
    return "go test -v ./..." if (workdir / "go.mod").is_file() else None


def _cargo(workdir: Path) -> str | None:
    return "cargo test" if (workdir / "Cargo.toml").is_file() else None


_TARGET = re.compile(r"^(test|check)\s*:(?!=)", re.MULTILINE)


def _make(workdir: Path) -> str | None:
    text = _read(workdir / "Makefile") or _read(workdir / "makefile") or ""
    targets = set(_TARGET.findall(text))
    for target in ("test", "check"):
        if target in targets:
            return f"make {target}"
    return None
