"""One attempt at a task: setup → agent → tests → `.git` back to the worker → the change, committed.

The same code for a server run, each best-of-N attempt, a local run, a replay and a delegated run; what
differs between them comes in as values (the plan) and as the events an attempt reports to its run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol

from jobs.agent.loop import Agent, AgentResult
from jobs.agent.model import ModelError
from jobs.git import workspace
from jobs.git.takeback import GitState, save_git_state, take_back_git
from jobs.git.tree import put_back, tree_state
from jobs.repo.delta import TestDelta, delta
from jobs.repo.environment import baseline_key, environment_key
from jobs.run.warm import Environments
from jobs.sandbox.toolchain import toolchain
from jobs.repo.config import FILE_NAME, RepoConfig
from jobs.repo.testing import TestResult, detect_test_command, run_tests
from jobs.report.texts import quiet
from jobs.run.cancellation import RunCancelled
from jobs.sandbox import Sandbox, SetupSecret

NO_CHANGE = "the agent finished without changing any file"


SETUP_LOG_LINES = 60  # of a failed setup command's output, in the run log
EXCERPT_LINES, EXCERPT_CHARS = 12, 1500  # on the tracking comment


class SetupFailed(RuntimeError):
    """A `[setup] commands` entry failed; the message names it and where to fix it, `excerpt` is the end of
    what it printed (npm's or pip's own error), for the tracking comment."""

    def __init__(self, message: str, excerpt: str = ""):
        super().__init__(message)
        self.excerpt = excerpt


def output_tail(output: str, lines: int, chars: int = 0) -> str:
    """The last lines of a command's output (and at most `chars` of them), without trailing blank lines."""
    tail = "\n".join(output.rstrip().splitlines()[-lines:])
    return tail[-chars:] if chars else tail


class AttemptEvents(Protocol):
    """What an attempt tells the run it belongs to."""

    def log(self, line: str) -> None: ...

    def phase(self, name: str) -> None: ...

    def transcript(self, transcript: dict) -> None: ...

    def tests(self, tests: TestResult, started: float) -> None: ...


class QuietEvents:
    """Events for an attempt whose run keeps only its log (best-of-N attempts, replay)."""

    def __init__(self, log: Callable[[str], None]):
        self.on_log = log

    def log(self, line: str) -> None:
        self.on_log(line)

    def phase(self, name: str) -> None:
        return None

    def transcript(self, transcript: dict) -> None:
        return None

    def tests(self, tests: TestResult, started: float) -> None:
        return None


@dataclass(frozen=True)
class AttemptPlan:
    """A prepared workspace and what to do in it."""

    workdir: Path
    base_sha: str  # the change is measured from here
    config: RepoConfig  # the repository's settings, with AGENTS.md as instructions
    task_text: str
    commit_message: Callable[[str], str]  # the agent's summary → the message of the change's commit
    identity: workspace.Identity
    test_command: str | None = None  # None: found in the workspace (or [test] command)
    max_diff_bytes: int = 0  # 0: no cap
    setup_env: Mapping[str, str] = field(default_factory=dict)  # [setup] secrets: the setup phase's only
    environments: Environments | None = None  # warm environments; None: always set up, keep nothing
    fresh: bool = False  # `--fresh`: set up even when an environment is kept (and keep the new one)
    # only a run on the default branch keeps what its setup made: a branch or pull request whose files
    # setup runs (a Makefile, a postinstall script) must never plant an environment other runs restore
    keep_environment: bool = False
    environment_scope: str = ""  # whose environments: "github:owner/name"


@dataclass(frozen=True)
class AttemptResult:
    agent: AgentResult
    tests: TestResult | None
    head: str  # the commit holding the change (base_sha when there is none)
    diff: str  # base_sha..head
    reverted: tuple[str, ...]  # protected paths the agent changed, put back
    baseline: TestResult | None = None  # the tests on the base, before the agent

    @property
    def delta(self) -> TestDelta | None:
        return delta(self.baseline, self.tests) if self.baseline is not None and self.tests is not None else None

    @property
    def tests_failing(self) -> bool:
        """The change does not make the tests pass, or makes tests fail that did not: a draft."""
        change = self.delta
        return self.tests is not None and (not self.tests.ok or (change is not None and change.newly_failing))

    @property
    def changed(self) -> bool:
        return bool(self.diff)

    def no_change_reason(self, redact: Callable[[str], str] = str) -> str:
        """The one sentence for an attempt that left nothing to publish."""
        if self.reverted:
            return (f"the agent changed only protected paths ({', '.join(self.reverted)}), which codexbot "
                    "reverted; nothing was pushed")
        if self.agent.stopped_by not in ("", "finish"):  # a limit or the model ended it, not the agent's choice
            return f"the agent was stopped before it changed any file: {quiet(redact(self.agent.stop_reason))}"
        return NO_CHANGE + (f": {quiet(redact(self.agent.summary))}" if self.agent.summary else "")


def run_attempt(plan: AttemptPlan, sandbox: Sandbox, make_agent: Callable[[Sandbox], Agent],
                events: AttemptEvents) -> AttemptResult:
    """The whole attempt in the given sandbox; raises RunCancelled, SetupFailed, ModelError or SandboxError.

    `.git` is saved before anything runs in the sandbox and taken back after each phase that ran there: what
    is committed is the working tree only, as codexbot, from the base (jobs/git/takeback.py)."""
    git_state = save_git_state(plan.workdir)
    events.phase("setting up")
    sandbox.start_phase("setup")
    _set_up(plan, sandbox, events, git_state)
    command = _test_command(plan)  # found once before the agent; again after it (it may add tests)
    baseline = _baseline_tests(plan, command, sandbox, events, git_state)
    sandbox.start_phase("agent", network=plan.config.agent_network)
    events.log("network in the agent phase: " + ("on ([network] agent = true)" if plan.config.agent_network else "off"))
    events.phase("agent working")
    agent = _run_agent(plan, command, make_agent(sandbox), events)
    take_back_git(plan.workdir, git_state)
    tests = _run_tests(plan, sandbox, events, git_state)
    return _commit_change(plan, agent, tests, events, baseline)


def run_setup_commands(sandbox: Sandbox, config: RepoConfig, log: Callable[[str], None],
                       secrets: Mapping[str, str] = {}) -> None:  # noqa: B006  (read, never changed)
    """The repository's setup commands, in order, in the sandbox's setup phase (network on by default), with
    the repository's setup secrets in their environment: never in the agent's or the tests'."""
    env = {name: SetupSecret(value) for name, value in secrets.items()}
    for command in config.setup_commands:
        result = sandbox.run(command, timeout=config.test_timeout, env=env)
        log(f"setup: {command} (exit {result.exit_code}, {result.duration:.1f} s)")
        if result.exit_code != 0:
            if result.output.strip():
                log(f"setup output (the last {SETUP_LOG_LINES} lines):\n" + output_tail(result.output, SETUP_LOG_LINES))
            raise SetupFailed(f"the setup command `{command}` failed with exit code {result.exit_code}; "
                              f"fix [setup] in {FILE_NAME}", output_tail(result.output, EXCERPT_LINES, EXCERPT_CHARS))


def _test_command(plan: AttemptPlan) -> str | None:
    return plan.test_command or detect_test_command(plan.workdir, plan.config.test_command)


def _run_agent(plan: AttemptPlan, command: str | None, agent: Agent, events: AttemptEvents) -> AgentResult:
    try:
        result = agent.run(plan.task_text, instructions=plan.config.instructions, test_command=command)
    except ModelError as error:
        if error.partial is not None:
            events.transcript(error.partial.transcript)
        raise
    events.transcript(result.transcript)
    events.log(f"agent stopped after {result.steps} steps: {result.stop_reason}")
    if result.stopped_by == "cancelled":
        raise RunCancelled(result.stop_reason)
    return result


def _set_up(plan: AttemptPlan, sandbox: Sandbox, events: AttemptEvents, git_state: GitState) -> None:
    """The environment kept for this key, else the setup commands (and the environment they made, kept)."""
    config, key, home = plan.config, None, _home(sandbox)
    if plan.environments is not None and config.setup_commands and config.setup_cache:
        key = environment_key(plan.environment_scope, plan.workdir, config, _toolchain(plan))
        saved = None if plan.fresh else plan.environments.restore(key, plan.workdir, home)
        if saved is not None:
            events.log(f"environment restored (key {key[:12]}…), setup skipped, saved {saved:.1f} s")
            return
    started = time.monotonic()
    run_setup_commands(sandbox, config, events.log, plan.setup_env)
    if key is not None and plan.keep_environment:
        take_back_git(plan.workdir, git_state)  # host git lists what setup made
        plan.environments.save(key, plan.workdir, time.monotonic() - started, events.log, home)


def _home(sandbox: Sandbox) -> Path | None:
    """The sandbox's home on the host when it keeps one for its lifetime (bubblewrap's; the development
    sandbox makes one per command): what setup leaves there (pip's and npm's caches) is kept too."""
    home = getattr(sandbox, "home", None)
    return getattr(home, "path", None)


def _toolchain(plan: AttemptPlan) -> str:
    """The toolchain's versions, asked once per upgrade and kept beside the environments."""
    return toolchain(plan.environments.root if plan.environments is not None else None)


def _baseline_tests(plan: AttemptPlan, command: str | None, sandbox: Sandbox, events: AttemptEvents, git_state: GitState
                    ) -> TestResult | None:
    """The tests once on the base, before the agent, so the run can say what its change did to them; the tree
    is put back afterwards (reports, caches and files the tests wrote are not the agent's change)."""
    if command is None or not plan.config.test_baseline:
        return None
    key = baseline_key(plan.environment_scope, plan.base_sha, command, plan.config, _toolchain(plan))
    kept = plan.environments.baseline(key) if plan.environments is not None and not plan.fresh else None
    if kept is not None:
        events.log(f"before the change (kept for {plan.base_sha[:12]}), " + kept.summary())
        return kept
    take_back_git(plan.workdir, git_state)  # setup ran in the sandbox: host git reads the tree only after
    before = tree_state(plan.workdir)
    tests = run_tests(sandbox, command, plan.config.test_timeout)
    take_back_git(plan.workdir, git_state)
    put_back(plan.workdir, before)
    events.log("before the change, " + tests.summary())
    if plan.environments is not None and plan.keep_environment and tests.duration < plan.config.test_timeout * 0.9:
        plan.environments.keep_baseline(key, tests)
    return tests


def _run_tests(plan: AttemptPlan, sandbox: Sandbox, events: AttemptEvents, git_state: GitState) -> TestResult | None:
    command = _test_command(plan)  # again: the agent may have added the tests
    if command is None:
        events.log(f"no tests found; set [test] command in {FILE_NAME} to run them")
        return None
    events.phase("tests")
    started = time.time()
    tests = run_tests(sandbox, command, plan.config.test_timeout)
    take_back_git(plan.workdir, git_state)  # before host git reads the tree again
    events.log(tests.summary())
    events.tests(tests, started)
    return tests


def _commit_change(plan: AttemptPlan, agent: AgentResult, tests: TestResult | None, events: AttemptEvents,
                   baseline: TestResult | None = None) -> AttemptResult:
    """Protected paths put back, the rest committed as codexbot; the diff read only once its size is known."""
    reverted = workspace.revert_protected(plan.workdir, plan.config.protected_paths)
    if reverted:
        events.log("reverted the agent's changes to protected paths: " + ", ".join(reverted))
    workspace.commit_all(plan.workdir, plan.commit_message(agent.summary), plan.identity)
    head = workspace.head_sha(plan.workdir)
    if head == plan.base_sha:
        return AttemptResult(agent, tests, head, "", tuple(reverted), baseline)
    workspace.check_diff_size(plan.workdir, plan.base_sha, plan.max_diff_bytes)
    return AttemptResult(agent, tests, head, workspace.diff(plan.workdir, plan.base_sha), tuple(reverted), baseline)
