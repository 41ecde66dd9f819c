"""Replay a recorded run: the same loop answered by its recorded responses, then the diff and tests compared."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from jobs.git import workspace
from jobs.services import Services
from jobs.agent.context import message_size
from jobs.agent.loop import Agent, AgentResult, Limits
from jobs.agent.model import ModelError, ModelReply, Usage, assistant_message, parse_tool_call
from jobs.sandbox import Sandbox
from jobs.repo.testing import TestResult, run_tests

REPLAY_IDENTITY = workspace.Identity("codexbot replay", "replay@codexbot.invalid")


class ReplayError(Exception):
    """The replay could not be set up; the message says what failed."""


class ScriptExhausted(ModelError):
    """The loop asked for more answers than the recording holds."""


class ScriptedModel:
    """A model that answers from recorded responses in order, without network.

    A response is a transcript step's "response", or an emulator script item: a string, or a dict with
    `content`, `tool_calls` ([{"name", "arguments": dict or JSON string, "id"?}]) and optional `usage`.
    Without usage, prompt tokens are estimated at four characters a token, as the emulator does.
    """

    def __init__(self, responses: list, model: str = "scripted"):
        self.responses, self.model = list(responses), model
        self.calls = 0

    @classmethod
    def from_transcript(cls, transcript: dict) -> ScriptedModel:
        """The recorded answers, with their recorded usage so token and cost limits stop the replay alike."""
        script = [{**step["response"], "usage": step.get("usage")} for step in transcript["steps"]]
        return cls(script, transcript.get("model", "scripted"))

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        if self.calls >= len(self.responses):
            raise ScriptExhausted(f"the recorded script has only {len(self.responses)} answers")
        item = self.responses[self.calls]
        self.calls += 1
        item = {"content": item} if isinstance(item, str) else item
        calls = [parse_tool_call(call.get("id") or f"call_{self.calls}_{n}", call["name"], _raw(call["arguments"]))
                 for n, call in enumerate(item.get("tool_calls") or [])]
        content = item.get("content")
        usage = _usage(item["usage"]) if item.get("usage") else estimate_usage(messages, content, calls)
        return ModelReply(content, calls, usage, assistant_message(content, calls, item.get("reasoning")))


def _usage(recorded: dict) -> Usage:
    return Usage(**{key: recorded[key] for key in ("prompt_tokens", "completion_tokens", "cached_tokens")
                    if key in recorded})


def _raw(arguments) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def estimate_usage(messages: list[dict], content: str | None, calls) -> Usage:
    """Four characters a token, with a few tokens of framing for each message and call."""
    prompt = sum(message_size(message) for message in messages)
    answer = len(content or "") + sum(len(call.raw) for call in calls)
    return Usage(prompt // 4, answer // 4)


def transcript_from_script(script: list, task: str = "", model: str = "scripted") -> dict:
    """A minimal transcript holding only responses: what an emulator script is, as something replay() takes."""
    steps = [{"step": n, "response": {"content": item} if isinstance(item, str) else item}
             for n, item in enumerate(script, 1)]
    return {"version": 1, "model": model, "task": task, "instructions": "", "test_command": None,
            "messages": [], "steps": steps, "notes": [], "result": {}}


@dataclass
class ReplayResult:
    """What `codexbot replay` reports: whether the outcome matches, and what differs."""

    matches: bool
    diff: str
    diff_sha256: str
    tests: TestResult | None
    agent: AgentResult | None
    mismatches: list[str] = field(default_factory=list)


def replay(transcript: dict, workdir: Path, sandbox_factory: Callable[[Path], Sandbox], *,
           setup_commands: Sequence[str] = (), test_command: str | None = None,
           on_event: Callable[[str], None] = lambda line: None) -> ReplayResult:
    """Re-run a recorded run in a clone of its base commit and compare the outcome with the recorded one.

    As the pipeline does: setup commands (network on), the loop (here answered by the recording), the
    tests, then a commit whose diff from the base is compared by digest.
    """
    sandbox = sandbox_factory(workdir)
    saved_config = (workdir / ".git" / "config").read_text()
    for command in setup_commands:
        done = sandbox.run(command, network=True)
        on_event(f"setup: {command} (exit {done.exit_code}, {done.duration:.1f} s)")
        if done.exit_code != 0:
            raise ReplayError(f"the setup command `{command}` failed with exit code {done.exit_code}")
    recorded = {k: v for k, v in (transcript.get("limits") or {}).items() if k in Limits.__dataclass_fields__}
    # The recording ends where the run ended: a run stopped by time or cancellation stops here too.
    limits = replace(Limits(**recorded), max_steps=min(recorded.get("max_steps", 10**6), len(transcript["steps"])))
    model = ScriptedModel.from_transcript(transcript)
    agent = Agent(model, sandbox, limits, on_event=on_event)
    result = agent.run(transcript.get("task", ""), transcript.get("instructions", ""), transcript.get("test_command"))
    workspace.reset_git_dir(workdir, saved_config)  # the replayed commands could have planted git config
    command = test_command or transcript.get("test_command") or (transcript.get("outcome") or {}).get("test_command")
    tests = run_tests(sandbox, command, limits.command_timeout) if command else None
    workspace.reset_git_dir(workdir, saved_config)
    base = workspace.head_sha(workdir)
    workspace.commit_all(workdir, "replay", REPLAY_IDENTITY)
    diff = workspace.diff(workdir, base)
    mismatches = compare(transcript, result, diff, tests)
    return ReplayResult(not mismatches, diff, diff_digest(diff), tests, result, mismatches)


def compare(transcript: dict, result: AgentResult, diff: str, tests: TestResult | None) -> list[str]:
    """What differs from the recording, one sentence each; only what the recording holds is compared."""
    wanted, outcome = transcript.get("result") or {}, transcript.get("outcome") or {}
    found = []
    for key in ("finished", "summary", "steps"):
        if key in wanted and wanted[key] != getattr(result, key):
            found.append(f"{key}: recorded {wanted[key]!r}, replayed {getattr(result, key)!r}")
    if "diff_sha256" in outcome and outcome["diff_sha256"] != diff_digest(diff):
        found.append(f"diff: recorded sha256 {outcome['diff_sha256'][:12]}, replayed {diff_digest(diff)[:12]}")
    for key in ("exit_code", "passed", "failed"):
        want = (outcome.get("tests") or {}).get(key)
        got = getattr(tests, key, None)
        if want is not None and want != got:
            found.append(f"tests {key}: recorded {want!r}, replayed {got!r}")
    return found


def diff_digest(diff: str) -> str:
    """A short fingerprint to store with the run instead of the whole diff."""
    return hashlib.sha256(diff.encode()).hexdigest()


def record_outcome(transcript: dict, diff: str, tests: TestResult | None) -> dict:
    """The transcript with what replay compares against: the diff's digest and the test counts."""
    outcome = {"diff_sha256": diff_digest(diff)}
    if tests is not None:
        outcome["tests"] = {"command": tests.command, "exit_code": tests.exit_code, "passed": tests.passed,
                            "failed": tests.failed}
        outcome["test_command"] = tests.command
    return {**transcript, "outcome": outcome}


def replay_stored_run(services: Services, run_id: str, *, keep: bool = False,
                      on_event: Callable[[str], None] = lambda line: None) -> tuple[ReplayResult, Path]:
    """`codexbot replay RUN_ID`: clone the run's repository at its base commit and replay the stored transcript.

    Returns the result and the checkout (deleted unless keep). Every failure is a ReplayError.
    """
    from jobs.run.wiring import make_forge
    from jobs.forges.base import ForgeError
    from jobs.intake.accept import load_task
    from jobs.repo.config import FILE_NAME, RepoConfigError, parse_repo_config
    from jobs.records.parts import RunParts
    from jobs.records.runs import run_key
    from jobs.sandbox import SandboxError, make_sandbox

    conn = services.redis
    stored = RunParts(conn, services.settings.data_dir, run_id).transcript()  # in Redis, or archived
    base, task = conn.hget(run_key(run_id), "base_sha"), load_task(conn, run_id)
    if stored is None or base is None or task is None:
        raise ReplayError(f"run {run_id} has no stored transcript and base commit: it expired, "
                          "or it ended before the agent ran")
    workdir = Path(tempfile.mkdtemp(prefix=f"codexbot-replay-{run_id[:8]}-")) / "repo"
    try:
        forge, _ = make_forge(services, task.trigger)
        try:
            workspace.clone(forge.repository().clone_url, workdir, forge.git_credentials(write=False))
        finally:
            forge.close()
        workspace.git(workdir, "checkout", "-q", "--detach", base.decode())
        config_file = workdir / FILE_NAME
        config = parse_repo_config(config_file.read_text() if config_file.is_file() else None)
        result = replay(stored, workdir, lambda path: make_sandbox(services.settings.sandbox, path),
                        setup_commands=config.setup_commands, on_event=on_event)
    except (ForgeError, workspace.WorkspaceError, RepoConfigError, SandboxError) as error:
        raise ReplayError(f"the replay of run {run_id} failed: {error}") from error
    finally:
        if not keep:
            shutil.rmtree(workdir.parent, ignore_errors=True)
    return result, workdir
