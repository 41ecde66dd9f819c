"""The agent's tools (shell, read_file, write_file, finish): their JSON schemas and how each one runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jobs.agent.model import ToolCall
from jobs.sandbox import WORKSPACE, Sandbox

TOOL_OUTPUT_LIMIT = 20_000  # characters of one tool result the model sees


def _function(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


TOOLS: list[dict] = [
    _function("shell", "Run a bash command in /workspace (no network). Returns the exit code and output.",
              {"command": {"type": "string", "description": "the bash command line"}}, ["command"]),
    _function("read_file", "Read a text file in /workspace, with line numbers; optionally only some lines.",
              {"path": {"type": "string", "description": "path relative to /workspace"},
               "start_line": {"type": "integer", "description": "first line to show, from 1"},
               "end_line": {"type": "integer", "description": "last line to show"}}, ["path"]),
    _function("write_file", "Create or replace a text file in /workspace with the given content.",
              {"path": {"type": "string", "description": "path relative to /workspace"},
               "content": {"type": "string", "description": "the whole new content of the file"}},
              ["path", "content"]),
    _function("finish", "Stop working: the change is made and tested. Give a short summary for the pull request.",
              {"summary": {"type": "string", "description": "what changed and how it was tested"}}, ["summary"]),
]
TOOL_NAMES = tuple(tool["function"]["name"] for tool in TOOLS)


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the model."""


@dataclass(frozen=True)
class ToolResult:
    output: str  # what the model sees, already capped
    note: str  # one short line for the run log
    finished: bool = False
    summary: str = ""


def elide(text: str, limit: int = TOOL_OUTPUT_LIMIT) -> str:
    """Text within limit characters: head and tail kept, the middle replaced by a count."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters cut …]\n{text[-half:]}"


class Toolbox:
    """Runs the model's tool calls against one sandbox and its workspace."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.workspace = Path(sandbox.workspace).resolve()

    def execute(self, call: ToolCall, timeout: float) -> ToolResult:
        """The tool's result; a refused or malformed call becomes an error result, never an exception."""
        try:
            if call.error:
                raise ToolError(call.error)
            if call.name not in TOOL_NAMES:
                raise ToolError(f"there is no tool named {call.name!r}: use one of {', '.join(TOOL_NAMES)}")
            return getattr(self, "_" + call.name)(call.arguments, timeout)
        except ToolError as error:
            problem = str(error)
        except OSError as error:  # the file system said no: the model can pick another path
            problem = f"{call.arguments.get('path', 'the path')} cannot be used: {error.strerror or error}"
        return ToolResult(output=f"error: {problem}", note=f"{call.name}: refused ({problem})")

    def _shell(self, arguments: dict, timeout: float) -> ToolResult:
        command = _argument(arguments, "shell", "command", str)
        # A little under the cap, so the sandbox's own "bytes cut" marker is the only one.
        result = self.sandbox.run(command, timeout=timeout, output_limit=TOOL_OUTPUT_LIMIT - 200)
        output = elide(f"exit code {result.exit_code}\n{result.output}")
        note = f"shell: {_one_line(command)} (exit {result.exit_code}, {result.duration:.1f} s)"
        return ToolResult(output, note)

    def _read_file(self, arguments: dict, timeout: float) -> ToolResult:
        path = _argument(arguments, "read_file", "path", str)
        start = _argument(arguments, "read_file", "start_line", int, required=False) or 1
        target = self.resolve(path)
        if not target.is_file():
            raise ToolError(f"{path} is {'a directory' if target.is_dir() else 'not a file'}: "
                            "use shell with ls or find to look around")
        lines = target.read_text(errors="replace").splitlines()
        end = _argument(arguments, "read_file", "end_line", int, required=False) or len(lines)
        shown = [f"{n:6}\t{lines[n - 1]}" for n in range(max(start, 1), min(end, len(lines)) + 1)]
        header = f"{path}: lines {max(start, 1)}-{min(end, len(lines))} of {len(lines)}\n"
        return ToolResult(elide(header + "\n".join(shown)), f"read_file: {path}")

    def _write_file(self, arguments: dict, timeout: float) -> ToolResult:
        path = _argument(arguments, "write_file", "path", str)
        content = _argument(arguments, "write_file", "content", str)
        target = self.resolve(path)
        if ".git" in target.relative_to(self.workspace).parts:
            raise ToolError(f"{path} is inside .git: change the repository's files, not git's own")
        if target.is_dir():
            raise ToolError(f"{path} is a directory: give the path of a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode()
        # O_NOFOLLOW: a link swapped in after resolve() must still never be written through.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return ToolResult(f"wrote {len(data)} bytes to {path}", f"write_file: {path} ({len(data)} bytes)")

    def _finish(self, arguments: dict, timeout: float) -> ToolResult:
        summary = _argument(arguments, "finish", "summary", str)
        return ToolResult("finished", "finish", finished=True, summary=summary)

    def resolve(self, path: str) -> Path:
        """The host path for a workspace path; anything that leads outside the workspace is refused."""
        relative = self._relative(path)
        if ".." in relative.parts:
            raise ToolError(f"{path} contains '..': give a path inside /workspace without '..'")
        target = self.workspace.joinpath(relative)
        # resolve() reads links without opening what they point at, so nothing outside is touched.
        if not target.resolve().is_relative_to(self.workspace):
            raise ToolError(f"{path} leads outside /workspace through a symbolic link: "
                            "the file tools only work on files inside the workspace")
        return target.resolve()

    def _relative(self, path: str) -> PurePosixPath:
        given = PurePosixPath(path.strip())
        if not str(path).strip():
            raise ToolError("the path is empty: give a path relative to /workspace")
        if not given.is_absolute():
            return given
        for root in (PurePosixPath(WORKSPACE), PurePosixPath(self.workspace)):
            if given.is_relative_to(root):
                return given.relative_to(root)
        raise ToolError(f"{path} is outside /workspace: give a path inside the repository")


def _argument(arguments: dict, tool: str, name: str, kind: type, required: bool = True):
    value = arguments.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ToolError(f"{tool} needs the argument {name!r} as a {'string' if kind is str else 'number'}")
    return value


def _one_line(command: str, limit: int = 80) -> str:
    line = " ".join(command.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
