"""`codexbot run` on a developer's machine: the server's agent loop, tools and sandbox, on a copy of the checkout.

No server, no Redis: the run is recorded in files (jobs/local/records.py) and the change stays in
diff.patch until the user applies it (jobs/local/checkout.apply_patch).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from jobs.access.redaction import Redactor
from jobs.agent.loop import Agent, AgentResult
from jobs.agent.model import ModelError
from jobs.agent.prices import cost_of, find_price, parse_prices
from jobs.git import workspace
from jobs.local.checkout import CheckoutError, Snapshot, change_of, make_snapshot, save_preimages
from jobs.local.endings import KeepingWork, log_details, partial_note
from jobs.local.records import RecordError, RunRecord, now
from jobs.repo.config import FILE_NAME, RepoConfig, RepoConfigError, parse_repo_config
from jobs.repo.testing import TestResult
from jobs.run.attempt import AttemptPlan, AttemptResult, SetupFailed, run_attempt
from jobs.run.cancellation import RunCancelled
from jobs.run.wiring import build_limits, build_model, log_refusal, make_sandbox, network_policy
from jobs.sandbox.fence import FencePolicy
from jobs.sandbox import DiskQuotaExceeded, SandboxCancelled, SandboxError
from jobs.settings import Settings

LOCAL_IDENTITY = workspace.Identity("codexbot", "codexbot@localhost.invalid")
UNFENCED_HINT = ("; or pass --unfenced-network to give setup this machine's network instead (its 127.0.0.1 services "
                 "and private network included)")
MISSING_MODEL = "set OPENAI_API_KEY, or OPENAI_BASE_URL for a local model server"


class LocalRunError(RuntimeError):
    """The run could not start or went wrong; the message is the one sentence the user sees."""


KNOWN_FAILURES = (LocalRunError, CheckoutError, workspace.WorkspaceError, ModelError, RepoConfigError, SandboxError,
                  SetupFailed, RecordError)


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
    partial: str = ""  # the sentence saying the change is partial and why (a limit or a model error ended it)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "summary": self.summary, "stop_reason": self.stop_reason,
                "error": self.error, "partial": self.partial, "diff": self.diff, "tests": self.tests.to_dict() if self.tests else None,
                "tokens": self.usage.get("prompt_tokens", 0) + self.usage.get("completion_tokens", 0),
                "cost": self.usage.get("cost", 0.0), "usage": self.usage, "record": str(self.folder)}


def usage_of(agent: AgentResult) -> dict:
    return {"prompt_tokens": agent.prompt_tokens, "completion_tokens": agent.completion_tokens, "steps": agent.steps,
            "cost": round(agent.cost, 4)}


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

    def context_window(self) -> int | None:
        """The window the server says it runs with (the agent sizes its context by it), passed on."""
        ask = getattr(self.inner, "context_window", None)
        return ask() if callable(ask) else None

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
                 model: str | None = None, keep: bool = False, unfenced: bool = False,
                 show: Callable[[str | None, LiveState], None] = lambda line, state: None):
        self.settings, self.checkout, self.record, self.keep, self.show = settings, checkout, record, keep, show
        self.sandbox_kind = sandbox_kind or settings.sandbox
        self.unfenced = unfenced
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
        except (SandboxCancelled, RunCancelled) as error:
            result.status, result.error = "cancelled", str(error)
        except KNOWN_FAILURES as error:
            result.error = str(error)
            if isinstance(error, ModelError):
                log_details(error, self.log)
            if getattr(error, "partial", None) is not None:  # the model failed before the agent did a step
                result.usage, result.stop_reason = usage_of(error.partial), error.partial.stop_reason
        finally:
            self._cleanup()
        return self._finish(result)

    def _run(self, task: str, result: LocalResult) -> None:
        self._phase("copying the checkout")
        snapshot = make_snapshot(self.checkout, self.tmp / "repo", skip=self.record.folder.parent)
        self.record.update(base_commit=snapshot.head, carried=snapshot.carried)
        self.log(f"copied {snapshot.head[:12]} plus {len(snapshot.carried)} uncommitted file(s) to {snapshot.path}")
        plan = AttemptPlan(snapshot.path, snapshot.base, self._config(snapshot.path), task,
                           lambda summary: self.redactor.redact(f"codexbot: {summary or 'change'}"), LOCAL_IDENTITY)
        if plan.config.setup_secrets:
            self.log("note: [setup] secrets are given to server runs only; here the setup commands get none")
        if self.sandbox_kind == "subprocess":
            self.log("WARNING: --sandbox subprocess: the agent's commands run as you, with your network and files")
        sandbox = ReportingSandbox(make_sandbox(self.sandbox_kind, snapshot.path, fence=self._fence(plan.config),
                                                on_refused=log_refusal(self.log)), self._command)
        agent = KeepingWork(self.log)  # a model error ends the agent like a limit: the change is kept
        try:
            attempt = run_attempt(plan, sandbox, lambda box: self._agent(box, plan.config, agent), self)
            if sandbox.disk_exceeded:  # it stopped the agent: what a run over its quota left is not kept
                raise DiskQuotaExceeded(sandbox.disk_exceeded)
        finally:
            sandbox.close()
        self._collect(snapshot, attempt, result, agent.error)

    def _fence(self, config: RepoConfig) -> FencePolicy | None:
        if self.unfenced:
            self.log("WARNING: --unfenced-network: setup (and the agent, with [network] agent) gets this machine's "
                     "network, its 127.0.0.1 services and private network included")
            return None
        return replace(network_policy(self.settings, config, self.log), without_fence=UNFENCED_HINT)

    def _config(self, repo: Path) -> RepoConfig:
        """.codexbot.toml and AGENTS.md from the copy: locally, the user's own working tree is trusted."""
        config_file, agents = repo / FILE_NAME, repo / "AGENTS.md"
        config = parse_repo_config(config_file.read_text() if config_file.is_file() else None)
        instructions = agents.read_text(errors="replace") if agents.is_file() else ""
        return RepoConfig(**{**config.__dict__, "instructions": instructions})

    def _agent(self, sandbox, config: RepoConfig, keeping: KeepingWork) -> KeepingWork:
        s = self.settings
        prices = parse_prices(s.model_prices)
        inner = build_model(s, self.model_name, self.api_key, self.log)
        model = MeteredModel(inner, prices, self.state, self.changed)
        return keeping.wrap(Agent(model, sandbox, build_limits(s, config), on_event=self._event, prices=prices))

    def _collect(self, snapshot: Snapshot, attempt: AttemptResult, result: LocalResult,
                 model_error: ModelError | None = None) -> None:
        """The agent's change from the snapshot's base, kept as diff.patch with the files it changes, whatever
        ended the agent; a model error still fails the run, with its sentence."""
        agent = attempt.agent
        result.summary, result.stop_reason, result.tests = agent.summary, agent.stop_reason, attempt.tests
        result.usage = usage_of(agent)
        result.diff = change_of(snapshot)
        self.record.write_patch(result.diff)
        save_preimages(snapshot, self.record.preimages_path)
        if result.diff:
            result.partial = partial_note(agent.stopped_by, agent.stop_reason)
            if result.partial:
                self.log(result.partial + f"; it is kept: codexbot apply {self.record.run_id}")
        if model_error is not None:
            result.error = str(model_error)
        elif result.diff:
            result.status = "succeeded"
        else:
            result.error = attempt.no_change_reason()

    # AttemptEvents: the log and the terminal show phases; the record keeps the transcript
    def phase(self, name: str) -> None:
        self._phase(name)

    def transcript(self, transcript: dict) -> None:
        self.record.write_transcript(transcript)

    def tests(self, tests: TestResult, started: float) -> None:
        return None

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
        result.partial = self.redactor.redact(result.partial)
        self.state.phase, self.state.command = "done", ""
        self.log(f"run {result.status}" + (f": {result.error}" if result.error else ""))
        self.record.update(status=result.status, finished_at=now(), summary=result.summary, error=result.error,
                           stop_reason=result.stop_reason, usage=result.usage, partial=result.partial,
                           tests=result.tests.to_dict() if result.tests else None)
        return result
