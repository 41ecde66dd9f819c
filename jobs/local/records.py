"""Where a local run is recorded: `.codexbot/runs/<run_id>/` with meta.json, log.txt, transcript.json, diff.patch."""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from jobs.access.redaction import Redactor

RUNS_DIR = Path(".codexbot") / "runs"
FINAL = ("succeeded", "failed", "cancelled")


class RecordError(LookupError):
    """No such run, or its record cannot be read; the message says where codexbot looked."""


def default_runs_dir(checkout: Path) -> Path:
    return checkout / RUNS_DIR


def new_run_id() -> str:
    """Sortable by start time, short enough to type: 20250102-130405-a1b2."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunRecord:
    """One run's folder; every text that goes in passes through the redactor first."""

    def __init__(self, folder: Path, redactor: Redactor | None = None):
        self.folder, self.redactor = folder, redactor or Redactor()
        self.run_id = folder.name

    @classmethod
    def create(cls, runs_dir: Path, redactor: Redactor) -> RunRecord:
        """A new, empty run folder; the folder above it ignores itself, so `git status` stays clean."""
        runs_dir.mkdir(parents=True, exist_ok=True)
        top = runs_dir.parent if runs_dir.name == "runs" else runs_dir
        ignore = top / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# codexbot's local run records\n*\n")
        folder = runs_dir / new_run_id()
        folder.mkdir()
        return cls(folder, redactor)

    @property
    def meta_path(self) -> Path:
        return self.folder / "meta.json"

    @property
    def log_path(self) -> Path:
        return self.folder / "log.txt"

    @property
    def patch_path(self) -> Path:
        return self.folder / "diff.patch"

    @property
    def preimages_path(self) -> Path:
        """The changed files before the change: the merge base of a three-way apply."""
        return self.folder / "base"

    def meta(self) -> dict:
        try:
            return json.loads(self.meta_path.read_text())
        except FileNotFoundError:
            raise RecordError(f"run {self.run_id} has no meta.json in {self.folder}") from None
        except json.JSONDecodeError as error:
            raise RecordError(f"{self.meta_path} is not valid JSON ({error.msg})") from None

    def update(self, **fields) -> dict:
        """Merge fields into meta.json, written whole through a temporary file so a reader never sees half."""
        data = self.meta() if self.meta_path.exists() else {"run_id": self.run_id}
        data.update(fields)
        text = self.redactor.redact(json.dumps(data, indent=2, default=str))
        partial = self.meta_path.with_suffix(".tmp")
        partial.write_text(text + "\n")
        os.replace(partial, self.meta_path)
        return data

    def log(self, line: str) -> str:
        """Append a timestamped line to log.txt; returns the redacted line for display."""
        line = self.redactor.redact(line)
        with self.log_path.open("a", encoding="utf-8") as file:
            file.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        return line

    def write_transcript(self, transcript: dict) -> None:
        (self.folder / "transcript.json").write_text(self.redactor.redact(json.dumps(transcript, indent=1)))

    def write_patch(self, patch: str) -> None:
        self.patch_path.write_text(patch, errors="surrogateescape")


def find_run(runs_dir: Path, run_id: str) -> RunRecord:
    """The run named by its id, a unique prefix of it, or `last`."""
    names = sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    if not names:
        raise RecordError(f"there are no local runs in {runs_dir}")
    if run_id == "last":
        return RunRecord(runs_dir / names[-1])
    found = [name for name in names if name.startswith(run_id)]
    if len(found) != 1:
        what = "no run" if not found else f"{len(found)} runs"
        raise RecordError(f"{what} in {runs_dir} match {run_id!r}: give the full run id (or `last`)")
    return RunRecord(runs_dir / found[0])


def follow_log(record: RunRecord, *, poll: float = 0.3, alive: Callable[[int], bool] | None = None) -> Iterator[str]:
    """The log's text as it grows, until the run is final or its process is gone."""
    alive = alive or pid_alive
    offset = 0
    while True:
        meta = record.meta()
        chunk = _read_from(record.log_path, offset)
        offset += len(chunk.encode("utf-8", errors="surrogateescape"))
        if chunk:
            yield chunk
        if meta.get("status") in FINAL or not alive(int(meta.get("pid", 0))):
            return
        time.sleep(poll)


def _read_from(path: Path, offset: int) -> str:
    """What was appended to path after offset bytes (nothing if it does not exist yet)."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read().decode("utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return ""


def pid_alive(pid: int) -> bool:
    """Whether the process that records the run still runs (a killed run stays `running` in meta.json)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
