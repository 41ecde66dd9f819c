"""The agent's tools (shell, read_file, write_file, apply_patch, search, finish): schemas and how each runs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from jobs.agent.model import ToolCall
from jobs.agent.patch import PatchError, apply_file_patch, parse_patch
from jobs.agent.paths import ToolError, WorkspacePaths, read_text, write_file
from jobs.sandbox import Sandbox

TOOL_OUTPUT_LIMIT = 20_000  # characters of one tool result the model sees
SEARCH_TIMEOUT = 120.0


def _function(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


_PATH = {"type": "string", "description": "path relative to /workspace"}
TOOLS: list[dict] = [
    _function("shell", "Run a bash command in /workspace (no network). Returns the exit code and output.",
              {"command": {"type": "string", "description": "the bash command line"}}, ["command"]),
    _function("read_file", "Read a text file in /workspace, with line numbers; optionally only some lines.",
              {"path": _PATH, "start_line": {"type": "integer", "description": "first line to show, from 1"},
               "end_line": {"type": "integer", "description": "last line to show"}}, ["path"]),
    _function("write_file", "Create or replace a text file in /workspace with the given content.",
              {"path": _PATH, "content": {"type": "string", "description": "the whole new content of the file"}},
              ["path", "content"]),
    _function("apply_patch", "Apply a unified diff (--- a/path, +++ b/path, @@ hunks) to files in /workspace; "
              "use /dev/null as the old path to create a file, as the new path to delete one.",
              {"patch": {"type": "string", "description": "the unified diff"}}, ["patch"]),
    _function("search", "Search file contents in /workspace for a regular expression (ripgrep, else grep).",
              {"pattern": {"type": "string", "description": "the regular expression"},
               "path": {"type": "string", "description": "file or directory to search, default ."},
               "glob": {"type": "string", "description": "only files whose name matches, e.g. *.py"},
               "ignore_case": {"type": "boolean"}}, ["pattern"]),
    _function("finish", "Stop working: the change is made and tested. Give a short summary for the pull request.",
              {"summary": {"type": "string", "description": "what changed and how it was tested"}}, ["summary"]),
]
TOOL_NAMES = tuple(tool["function"]["name"] for tool in TOOLS)


@dataclass(frozen=True)
class ToolResult:
    """A tool's answer for the model, plus a line for the run log."""

    output: str  # what the model sees, already capped
    note: str  # one short line for the run log
    finished: bool = False
    summary: str = ""
    failed: bool = False  # an error or a non-zero exit: what the repeat guard watches


def elide(text: str, limit: int = TOOL_OUTPUT_LIMIT) -> str:
    """Text within limit characters: head and tail kept, the middle replaced by a count."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters cut …]\n{text[-half:]}"


class Toolbox:
    """Runs the model's tool calls against one sandbox and its workspace."""

    tools: list[dict] = TOOLS  # the schemas the model is offered; a subclass offers others

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.paths = WorkspacePaths(sandbox.workspace)
        self.workspace = self.paths.root

    def execute(self, call: ToolCall, timeout: float) -> ToolResult:
        """The tool's result; a refused or malformed call becomes an error result, never an exception."""
        try:
            if call.error:
                raise ToolError(call.error)
            names = [tool["function"]["name"] for tool in self.tools]
            if call.name not in names:
                raise ToolError(f"there is no tool named {call.name!r}: use one of {', '.join(names)}")
            return getattr(self, "_" + call.name)(call.arguments, timeout)
        except ToolError as error:
            problem = str(error)
        except OSError as error:  # the file system said no: the model can pick another path
            problem = f"{call.arguments.get('path', 'the path')} cannot be used: {error.strerror or error}"
        return ToolResult(elide(f"error: {problem}"), f"{call.name}: refused ({_one_line(problem, 160)})",
                          failed=True)

    def _shell(self, arguments: dict, timeout: float) -> ToolResult:
        command = _argument(arguments, "shell", "command", str)
        # A little under the cap, so the sandbox's own "bytes cut" marker is the only one.
        result = self.sandbox.run(command, timeout=timeout, output_limit=TOOL_OUTPUT_LIMIT - 200)
        output = elide(f"exit code {result.exit_code}\n{result.output}")
        note = f"shell: {_one_line(command)} (exit {result.exit_code}, {result.duration:.1f} s)"
        return ToolResult(output, note, failed=result.exit_code != 0)

    def _read_file(self, arguments: dict, timeout: float) -> ToolResult:
        path = _argument(arguments, "read_file", "path", str)
        start = max(_argument(arguments, "read_file", "start_line", int, required=False) or 1, 1)
        target = self.paths.resolve(path)
        if not target.is_file():
            raise ToolError(f"{path} is {'a directory' if target.is_dir() else 'not a file'}: "
                            "use shell with ls or find to look around")
        lines = read_text(target).splitlines()
        end = min(_argument(arguments, "read_file", "end_line", int, required=False) or len(lines), len(lines))
        shown = [f"{n:6}\t{lines[n - 1]}" for n in range(start, end + 1)]
        header = f"{path}: lines {start}-{end} of {len(lines)}\n"
        return ToolResult(elide(header + "\n".join(shown)), f"read_file: {path}")

    def _write_file(self, arguments: dict, timeout: float) -> ToolResult:
        path = _argument(arguments, "write_file", "path", str)
        data = _argument(arguments, "write_file", "content", str).encode()
        write_file(self.paths.resolve_writable(path), data)
        return ToolResult(f"wrote {len(data)} bytes to {path}", f"write_file: {path} ({len(data)} bytes)")

    def _apply_patch(self, arguments: dict, timeout: float) -> ToolResult:
        """All files or none: every hunk is fitted in memory before anything is written."""
        text = _argument(arguments, "apply_patch", "patch", str)
        try:
            changes = [self._patched(patch) for patch in parse_patch(text)]
        except PatchError as error:
            raise ToolError(f"the patch was not applied: {error}") from None
        done = []
        for target, content, verb in changes:
            if content is None:
                target.unlink()
            else:
                write_file(target, content.encode())
            done.append(f"{verb} {self.paths.shown(target)}")
        return ToolResult("patch applied: " + ", ".join(done), "apply_patch: " + ", ".join(done))

    def _patched(self, patch) -> tuple:
        target = self.paths.resolve_writable(patch.path)
        exists = target.is_file()
        if patch.old_path is None and exists and target.stat().st_size:
            raise PatchError(f"{patch.path} already exists: patch it with '--- a/{patch.path}' instead")
        if patch.old_path is not None and not exists:
            raise PatchError(f"{patch.path} does not exist: create it with '--- /dev/null'")
        content = apply_file_patch(read_text(target) if exists else None, patch)
        verb = "deleted" if content is None else ("created" if not exists else "patched")
        return target, content, verb

    def _search(self, arguments: dict, timeout: float) -> ToolResult:
        pattern = _argument(arguments, "search", "pattern", str)
        where = _argument(arguments, "search", "path", str, required=False) or "."
        glob = _argument(arguments, "search", "glob", str, required=False)
        fold = _argument(arguments, "search", "ignore_case", bool, required=False) or False
        relative = self.paths.shown(self.paths.resolve(where))
        command = search_command(pattern, relative, glob, fold)
        result = self.sandbox.run(command, timeout=min(timeout, SEARCH_TIMEOUT), output_limit=TOOL_OUTPUT_LIMIT - 200)
        note = f"search: {_one_line(pattern, 60)} in {relative}"
        if result.exit_code == 1 and not result.output.strip():
            return ToolResult(f"no matches for {pattern!r} in {relative}", note + " (no matches)")
        if result.exit_code > 1:
            return ToolResult(elide(f"search failed (exit {result.exit_code}):\n{result.output}"),
                              note + f" (failed, exit {result.exit_code})", failed=True)
        return ToolResult(elide(result.output), note)

    def _finish(self, arguments: dict, timeout: float) -> ToolResult:
        summary = _argument(arguments, "finish", "summary", str)
        return ToolResult("finished", "finish", finished=True, summary=summary)


def search_command(pattern: str, path: str, glob: str | None, ignore_case: bool) -> str:
    """ripgrep when the sandbox has it, else grep; both skip .git and binary files."""
    quoted = shlex.quote(pattern)
    where = "" if path == "." else shlex.quote(path)  # without a path both print names without "./"
    rg = "rg --line-number --no-heading --color=never --hidden --glob '!.git' --max-columns 400"
    grep = "grep -rnIE --exclude-dir=.git"
    if ignore_case:
        rg, grep = rg + " -i", grep + " -i"
    if glob:
        rg, grep = rg + f" --glob {shlex.quote(glob)}", grep + f" --include={shlex.quote(glob)}"
    return (f"if command -v rg >/dev/null 2>&1; then {rg} -e {quoted} -- {where}; "
            f"else {grep} -e {quoted} -- {where}; fi")


def _argument(arguments: dict, tool: str, name: str, kind: type, required: bool = True):
    value = arguments.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        word = {str: "a string", bool: "true or false"}.get(kind, "a number")
        raise ToolError(f"{tool} needs the argument {name!r} as {word}")
    return value


def _one_line(command: str, limit: int = 80) -> str:
    line = " ".join(command.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
