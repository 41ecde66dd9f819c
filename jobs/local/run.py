"""`codexbot run` on a developer's machine: the server's agent loop, tools and sandbox, on a copy of the checkout.

No server, no Redis: the run is recorded in files (jobs/local_records.py) and the change stays in
diff.patch until the user applies it (jobs/local_checkout.apply_patch).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jobs.git import workspace
from jobs.agent.loop import Agent, AgentResult
from jobs.agent.model import ModelError
from jobs.run.agent_setup import SetupFailed, build_limits, build_model, run_setup_commands
from jobs.agent.prices import cost_of, find_price, parse_prices
from jobs.local.checkout import CheckoutError, Snapshot, change_of, make_snapshot, save_preimages
from jobs.local.records import RecordError, RunRecord, now
from jobs.access.redaction import Redactor
from jobs.repo.config import FILE_NAME, RepoConfig, RepoConfigError, parse_repo_config
from jobs.sandbox import SandboxCancelled, SandboxError, make_sandbox
from jobs.settings import Settings
from jobs.repo.testing import TestResult, detect_test_command, run_tests

MISSING_MODEL = "set OPENAI_API_KEY, or OPENAI_BASE_URL for a local model server"


class LocalRunError(RuntimeError):
    """The run could not start or went wrong; the message is the one sentence the user sees."""


KNOWN_FAILURES = (LocalRunError, CheckoutError, workspace.WorkspaceError, ModelError, RepoConfigError, SandboxError,
                  RecordError)


@dataclass
class LiveState:
    """What the terminal shows while the run goes: where it is, what runs, what it has cost."""

    run_id: str = ""
    phase: str = "starting"
    step: int = 0
    command: str = ""
    tokens: int = 0
    cost: float = 0.0
    priced: bool = True


@dataclass
class LocalResult:
    """What `codexbot run --json` prints, and what meta.json keeps."""

    run_id: str
    status: str  # succeeded, failed or cancelled
    folder: Path
    diff: str = ""
    tests: TestResult | None = None
    summary: str = ""
    stop_reason: str = ""
    error: str = ""
    usage: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "summary": self.summary, "stop_reason": self.stop_reason,
                "error": self.error, "diff": self.diff, "tests": self.tests.to_dict() if self.tests else None,
                "tokens": self.usage.get("prompt_tokens", 0) + self.usage.get("completion_tokens", 0),
                "cost": self.usage.get("cost", 0.0), "usage": self.usage, "record": str(self.folder)}


def check_model_settings(settings: Settings) -> str:
    """The API key to use, or the one sentence that says how to give a model."""
    if settings.openai_api_key:
        return settings.openai_api_key
    if settings.openai_base_url:
        return "local"  # a local model server takes any key; the client needs one
    raise LocalRunError(MISSING_MODEL)


class MeteredModel:
    """The model, counting tokens and dollars as each call returns, for the live display."""

    def __init__(self, model, prices, state: LiveState, on_change: Callable[[], None]):
        self.inner, self.model, self.state, self.on_change = model, model.model, state, on_change
        self.price = find_price(self.model, prices)
        state.priced = self.price is not None

    def complete(self, messages, tools):
        self.state.step += 1
        self.state.command = ""
        self.on_change()
        reply = self.inner.complete(messages, tools)
        self.state.tokens += reply.usage.prompt_tokens + reply.usage.completion_tokens
        self.state.cost += cost_of(reply.usage, self.price)
        self.on_change()
        return reply


class ReportingSandbox:
    """The sandbox, saying each command before it runs: the log shows it, the terminal shows it live."""

    def __init__(self, sandbox, on_command: Callable[[str], None]):
        self.inner, self.on_command = sandbox, on_command

    def run(self, command: str, **options):
        self.on_command(command)
        return self.inner.run(command, **options)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class LocalRun:
    """One task on a copy of the checkout; `show(line, state)` gets every log line and every state change."""

    def __init__(self, settings: Settings, checkout: Path, record: RunRecord, *, sandbox_kind: str | None = None,
                 model: str | None = None, keep: bool = False,
                 show: Callable[[str | None, LiveState], None] = lambda line, state: None):
        self.settings, self.checkout, self.record, self.keep, self.show = settings, checkout, record, keep, show
        self.sandbox_kind = sandbox_kind or settings.sandbox
        self.model_name = model or settings.model
        self.api_key = check_model_settings(settings)
        self.redactor: Redactor = record.redactor
        self.redactor.add(settings.openai_api_key)
        self.state = LiveState(run_id=record.run_id)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"codexbot-{record.run_id}-"))

    def log(self, line: str) -> None:
        self.show(self.record.log(line), self.state)

    def changed(self) -> None:
        self.show(None, self.state)

    def run(self, task: str) -> LocalResult:
        """The whole run; every known failure becomes a failed result with its sentence, Ctrl-C a cancelled one."""
        self.record.update(task=task, status="running", started_at=now(), pid=os.getpid(), checkout=str(self.checkout),
                           model=self.model_name, sandbox=self.sandbox_kind)
        self.log(f"run {self.record.run_id}: {task}")
        result = LocalResult(self.record.run_id, "failed", self.record.folder)
        try:
            self._run(task, result)
        except KeyboardInterrupt:
            result.status, result.error = "cancelled", "cancelled with Ctrl-C"
        except SandboxCancelled as error:
            result.status, result.error = "cancelled", str(error)
        except KNOWN_FAILURES as error:
            result.error = str(error)
        finally:
            self._cleanup()
        return self._finish(result)

    def _run(self, task: str, result: LocalResult) -> None:
        self._phase("copying the checkout")
        snapshot = make_snapshot(self.checkout, self.tmp / "repo", skip=self.record.folder.parent)
        self.record.update(base_commit=snapshot.head, carried=snapshot.carried)
        self.log(f"copied {snapshot.head[:12]} plus {len(snapshot.carried)} uncommitted file(s) to {snapshot.path}")
        config = self._config(snapshot.path)
        saved_git_config = (snapshot.path / ".git" / "config").read_text()
        if self.sandbox_kind == "subprocess":
            self.log("WARNING: --sandbox subprocess: the agent's commands run as you, with your network and files")
        sandbox = ReportingSandbox(make_sandbox(self.sandbox_kind, snapshot.path), self._command)
        try:
            self._phase("setting up")
            sandbox.start_phase("setup")
            self._setup(sandbox, config)
            sandbox.start_phase("agent", network=config.agent_network)
            agent = self._agent(sandbox, config, task, result)
            workspace.reset_git_dir(snapshot.path, saved_git_config)
            result.tests = self._tests(sandbox, config, snapshot.path)
            workspace.reset_git_dir(snapshot.path, saved_git_config)
        finally:
            sandbox.close()
        self._collect(snapshot, config, agent, result)

    def _config(self, repo: Path) -> RepoConfig:
        """.codexbot.toml and AGENTS.md from the copy: locally, the user's own working tree is trusted."""
        config_file, agents = repo / FILE_NAME, repo / "AGENTS.md"
        config = parse_repo_config(config_file.read_text() if config_file.is_file() else None)
        instructions = agents.read_text(errors="replace") if agents.is_file() else ""
        return RepoConfig(**{**config.__dict__, "instructions": instructions})

    def _setup(self, sandbox, config: RepoConfig) -> None:
        try:
            run_setup_commands(sandbox, config, self.log)
        except SetupFailed as exc:
            raise LocalRunError(str(exc)) from None

    def _agent(self, sandbox, config: RepoConfig, task: str, result: LocalResult) -> AgentResult:
        self._phase("agent working")
        s = self.settings
        prices = parse_prices(s.model_prices)
        inner = build_model(s, self.model_name, self.api_key, self.log)
        model = MeteredModel(inner, prices, self.state, self.changed)
        agent = Agent(model, sandbox, build_limits(s, config), on_event=self._event, prices=prices)
        try:
            outcome = agent.run(task, instructions=config.instructions,
                                test_command=detect_test_command(sandbox.workspace, config.test_command))
        except ModelError as error:
            if error.partial is not None:
                self.record.write_transcript(error.partial.transcript)
            raise
        self.record.write_transcript(outcome.transcript)
        result.summary, result.stop_reason = outcome.summary, outcome.stop_reason
        result.usage = {"prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens,
                        "steps": outcome.steps, "cost": round(outcome.cost, 4)}
        self.log(f"agent stopped after {outcome.steps} steps: {outcome.stop_reason}")
        if outcome.stopped_by == "cancelled":
            raise SandboxCancelled(outcome.stop_reason)
        return outcome

    def _tests(self, sandbox, config: RepoConfig, repo: Path) -> TestResult | None:
        command = detect_test_command(repo, config.test_command)
        if command is None:
            self.log(f"no tests found; set [test] command in {FILE_NAME} to run them")
            return None
        self._phase("tests")
        tests = run_tests(sandbox, command, config.test_timeout)
        self.log(tests.summary())
        return tests

    def _collect(self, snapshot: Snapshot, config: RepoConfig, agent: AgentResult, result: LocalResult) -> None:
        """Commit the agent's work in the copy and keep its diff from the snapshot's base as diff.patch."""
        reverted = workspace.revert_protected(snapshot.path, config.protected_paths)
        if reverted:
            self.log("reverted the agent's changes to protected paths: " + ", ".join(reverted))
        workspace.commit_all(snapshot.path, self.redactor.redact(f"codexbot: {agent.summary or 'change'}"),
                             workspace.Identity("codexbot", "codexbot@localhost.invalid"))
        result.diff = change_of(snapshot)
        self.record.write_patch(result.diff)
        save_preimages(snapshot, self.record.preimages_path)
        if result.diff:
            result.status = "succeeded"
        else:
            result.error = "the agent finished without changing any file" + (f": {agent.summary}" if agent.summary else "")

    def _event(self, line: str) -> None:
        """Agent events, with the tokens and cost so far on each step line."""
        if line.startswith("step "):
            self.state.command = ""  # the step's commands are done
            cost = f"${self.state.cost:.4f}" if self.state.priced else "cost unknown"
            line += f" [{self.state.tokens:,} tokens, {cost}]"
        self.log(line)

    def _command(self, command: str) -> None:
        self.state.command = command
        self.log(f"$ {command}")

    def _phase(self, phase: str) -> None:
        self.state.phase, self.state.command = phase, ""
        self.log(f"phase: {phase}")

    def _cleanup(self) -> None:
        if self.keep:
            self.log(f"kept the run's copy of the checkout at {self.tmp / 'repo'}")
            return
        try:
            shutil.rmtree(self.tmp)
        except OSError as error:
            self.log(f"could not remove the run's copy at {self.tmp}: {error}")

    def _finish(self, result: LocalResult) -> LocalResult:
        result.summary, result.error = self.redactor.redact(result.summary), self.redactor.redact(result.error)
        self.state.phase, self.state.command = "done", ""
        self.log(f"run {result.status}" + (f": {result.error}" if result.error else ""))
        self.record.update(status=result.status, finished_at=now(), summary=result.summary, error=result.error,
                           stop_reason=result.stop_reason, usage=result.usage,
                           tests=result.tests.to_dict() if result.tests else None)
        return result
