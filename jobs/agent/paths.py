"""Workspace paths for the file tools: resolved inside the workspace, never followed out of it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from jobs.sandbox import WORKSPACE
from jobs.sandbox.files import PlantedFile, read_regular, write_regular

READ_LIMIT = 4 << 20  # bytes a file tool reads from one file


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the model."""


class WorkspacePaths:
    """Turns the model's paths (relative, or absolute under /workspace) into host paths inside the workspace."""

    def __init__(self, workspace: Path):
        self.root = Path(workspace).resolve()

    def resolve(self, path: str) -> Path:
        """The host path for a workspace path; anything that leads outside the workspace is refused."""
        relative = self._relative(path)
        if ".." in relative.parts:
            raise ToolError(f"{path} contains '..': give a path inside /workspace without '..'")
        target = self.root.joinpath(relative)
        # resolve() reads links without opening what they point at, so nothing outside is touched.
        if not target.resolve().is_relative_to(self.root):
            raise ToolError(f"{path} leads outside /workspace through a symbolic link: "
                            "the file tools only work on files inside the workspace")
        return target.resolve()

    def resolve_writable(self, path: str) -> Path:
        """As resolve(), and refused inside .git, whose hooks and config host-side git would trust."""
        target = self.resolve(path)
        if ".git" in target.relative_to(self.root).parts:
            raise ToolError(f"{path} is inside .git: change the repository's files, not git's own")
        if target.is_dir():
            raise ToolError(f"{path} is a directory: give the path of a file")
        return target

    def shown(self, target: Path) -> str:
        """The path as the model should write it: relative to /workspace."""
        return str(target.relative_to(self.root)) or "."

    def _relative(self, path: str) -> PurePosixPath:
        if not str(path).strip():
            raise ToolError("the path is empty: give a path relative to /workspace")
        given = PurePosixPath(path.strip())
        if not given.is_absolute():
            return given
        for root in (PurePosixPath(WORKSPACE), PurePosixPath(self.root)):
            if given.is_relative_to(root):
                return given.relative_to(root)
        raise ToolError(f"{path} is outside /workspace: give a path inside the repository")


def write_file(target: Path, data: bytes) -> None:
    """Write a regular file, never following a link swapped in after the path was checked, nor blocking on a
    FIFO planted in its place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_regular(target, data)
    except PlantedFile as error:
        raise ToolError(f"{error}: the file tools only write regular files") from None


def read_text(target: Path) -> str:
    """A text file's content, refusing binary files (their bytes are no use to the model) and files over
    READ_LIMIT, which the worker would have to hold whole to show a part of."""
    try:
        data = read_regular(target, READ_LIMIT)
    except PlantedFile as error:
        raise ToolError(f"{error}: use shell (head, sed -n, grep) to look at parts of it") from None
    if b"\0" in data[:8192]:
        raise ToolError(f"{target.name} is a binary file ({len(data)} bytes): use shell to inspect it")
    return data.decode("utf-8", errors="replace")
