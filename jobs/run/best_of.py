"""Best-of-N (`--attempts N`): independent attempts in parallel, each in its own workspace and sandbox."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jobs.git import workspace
from jobs.agent.loop import AgentResult
from jobs.agent.model import ModelError
from jobs.run.agent_setup import SetupFailed, build_agent, run_setup_commands
from jobs.run.cancellation import cancel_reason, cancel_watch
from jobs.git.checkout import mirror_key
from jobs.forges.base import GitCredentials, Repository
from jobs.git.mirrors import Mirrors
from jobs.repo.config import RepoConfig
from jobs.sandbox import SandboxError, make_sandbox
from jobs.settings import Settings
from jobs.repo.testing import TestResult, detect_test_command, run_tests
from jobs.types import Command

# each attempt is told it is one of several, so the model does not converge on the same first idea
HINT = "\n\n(This is attempt {k} of {n}, run independently of the others: prefer the approach you find most robust{extra}.)"
VARIATION = ["", ", and consider a different approach than the most obvious one", ", and keep the change minimal"]


@dataclass
class Attempt:
    index: int
    workdir: Path
    result: AgentResult | None = None
    tests: TestResult | None = None
    diff: str = ""
    error: str = ""
    seconds: float = 0.0
    finished: float = 0.0

    @property
    def lines(self) -> int:
        return sum(1 for line in self.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))

    @property
    def files(self) -> int:
        return self.diff.count("diff --git ")


@dataclass(frozen=True)
class AttemptPlan:
    settings: Settings
    repo: Repository
    credentials: GitCredentials
    branch: str
    config: RepoConfig
    command: Command
    task_text: str
    run_id: str
    conn: object  # Redis, for the cancel request


def run_attempts(plan: AttemptPlan, root: Path, count: int, log: Callable[[str], None]) -> list[Attempt]:
    """All attempts at once in threads; each failure stays inside its attempt."""
    attempts = [Attempt(k, root / f"attempt-{k}") for k in range(1, count + 1)]
    threads = [threading.Thread(target=_run_one, args=(plan, a, count, log), name=f"attempt-{a.index}")
               for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return attempts


def _run_one(plan: AttemptPlan, attempt: Attempt, count: int, log: Callable[[str], None]) -> None:
    started = time.monotonic()
    say = lambda line: log(f"[attempt {attempt.index}] {line}")  # noqa: E731
    try:
        _work(plan, attempt, count, say)
    except (ModelError, SandboxError, SetupFailed, workspace.WorkspaceError, OSError) as exc:
        attempt.error = str(exc)
        say(f"failed: {exc}")
    attempt.seconds, attempt.finished = time.monotonic() - started, time.monotonic()


def _work(plan: AttemptPlan, attempt: Attempt, count: int, say: Callable[[str], None]) -> None:
    shutil.rmtree(attempt.workdir, ignore_errors=True)
    checkout = Mirrors(Path(plan.settings.data_dir) / "mirrors").checkout(
        plan.repo.clone_url, mirror_key(plan.repo), plan.credentials, plan.branch, attempt.workdir)
    saved = (attempt.workdir / ".git" / "config").read_text()
    sandbox = make_sandbox(plan.settings.sandbox, attempt.workdir)
    with cancel_watch(plan.conn, plan.run_id, sandbox):
        try:
            sandbox.start_phase("setup")
            run_setup_commands(sandbox, plan.config, say)
            sandbox.start_phase("agent", network=plan.config.agent_network)
            agent = build_agent(plan.settings, plan.command, plan.config, sandbox, say,
                                lambda: cancel_reason(plan.conn, plan.run_id))
            extra = VARIATION[(attempt.index - 1) % len(VARIATION)]
            test_command = detect_test_command(attempt.workdir, plan.config.test_command)
            attempt.result = agent.run(plan.task_text + HINT.format(k=attempt.index, n=count, extra=extra),
                                       instructions=plan.config.instructions, test_command=test_command)
            workspace.reset_git_dir(attempt.workdir, saved)
            if test_command:
                attempt.tests = run_tests(sandbox, test_command, plan.config.test_timeout)
                say(attempt.tests.summary())
        finally:
            sandbox.close()
    workspace.reset_git_dir(attempt.workdir, saved)
    workspace.git(attempt.workdir, "add", "--all")
    attempt.diff = workspace.git(attempt.workdir, "diff", "--cached", "--binary", checkout.base_sha).stdout


def choose(attempts: list[Attempt]) -> Attempt | None:
    """Tests passing first, then fewer failing tests, then the smaller diff; ties go to the first to finish."""
    usable = [a for a in attempts if a.diff.strip() and not a.error]

    def key(a: Attempt):
        ok = a.tests is None or a.tests.ok
        failing = (a.tests.failed + a.tests.errors) if a.tests else 0
        return (not ok, failing, a.lines, a.finished)

    return min(usable, key=key) if usable else None


def render_table(attempts: list[Attempt], chosen: Attempt | None) -> str:
    rows = ["| attempt | tests | files | lines | tokens | cost | time | |", "|---|---|---|---|---|---|---|---|"]
    for a in attempts:
        tests = a.error[:60] if a.error else (f"{a.tests.passed} passed, {a.tests.failed} failed" if a.tests else "none")
        tokens = (a.result.prompt_tokens + a.result.completion_tokens) if a.result else 0
        cost = f"${a.result.cost:.2f}" if a.result else "-"
        mark = "**chosen**" if a is chosen else ""
        rows.append(f"| {a.index} | {tests} | {a.files} | {a.lines} | {tokens} | {cost} | {a.seconds:.0f} s | {mark} |")
    return "\n".join(rows)


def best_of(plan: AttemptPlan, root: Path, count: int, target: Path, log: Callable[[str], None]) -> tuple[Attempt | None, str]:
    """Run the attempts, apply the chosen one's change to target, and return it with the comparison table."""
    try:
        attempts = run_attempts(plan, root, count, log)
        chosen = choose(attempts)
        table = render_table(attempts, chosen)
        log("attempts compared:\n" + table)
        if chosen is not None:
            workspace.git(target, "apply", "--index", "--binary", "-", input=chosen.diff)
            log(f"chose attempt {chosen.index} of {count}")
        return chosen, table
    finally:
        shutil.rmtree(root, ignore_errors=True)
