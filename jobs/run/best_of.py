"""Best-of-N (`--attempts N`): independent attempts in parallel, each in its own workspace and sandbox, the
same attempt as a single run's; the chosen one's change is then committed in the run's own workspace."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from jobs.agent.loop import Agent
from jobs.agent.model import ModelError
from jobs.forges.base import GitCredentials, Repository
from jobs.git import patches, workspace
from jobs.git.checkout import mirror_key
from jobs.git.mirrors import Mirrors
from jobs.records.attempts import keep_attempts
from jobs.run.attempt import AttemptPlan, AttemptResult, QuietEvents, SetupFailed, run_attempt
from jobs.run.cancellation import RunCancelled, cancel_watch
from jobs.run.wiring import log_refusal, make_sandbox, network_policy, sandbox_limits
from jobs.sandbox import DiskQuotaExceeded, Sandbox, SandboxError
from jobs.settings import Settings

# each attempt is told it is one of several, so the model does not converge on the same first idea
HINT = "\n\n(This is attempt {k} of {n}, run independently of the others: prefer the approach you find most robust{extra}.)"
VARIATION = ["", ", and consider a different approach than the most obvious one", ", and keep the change minimal"]
ATTEMPT_FAILURES = (ModelError, SandboxError, SetupFailed, RunCancelled, workspace.WorkspaceError, OSError)


@dataclass(frozen=True)
class Trials:
    """What every attempt shares: where to check out from, the run's plan, how to build an agent."""

    settings: Settings
    repo: Repository
    credentials: GitCredentials
    branch: str
    plan: AttemptPlan  # the run's own: its workspace receives the chosen change
    make_agent: Callable[[Sandbox, Callable[[str], None], int], Agent]  # (sandbox, log, attempt number)
    conn: object  # Redis, for the cancel request
    run_id: str
    models: tuple[str, ...] = ()  # `--models`: attempt k's model is models[k - 1]


@dataclass
class Attempt:
    index: int
    workdir: Path
    model: str = ""
    result: AttemptResult | None = None
    patch: str = ""  # the change as a binary patch, to apply in the run's workspace
    error: str = ""
    seconds: float = 0.0
    finished: float = 0.0

    @property
    def diff(self) -> str:
        return self.result.diff if self.result else ""

    @property
    def lines(self) -> int:
        return sum(1 for line in self.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))

    @property
    def files(self) -> int:
        return self.diff.count("diff --git ")


def run_attempts(trials: Trials, root: Path, count: int, log: Callable[[str], None]) -> list[Attempt]:
    """All attempts at once in threads; each failure stays inside its attempt."""
    attempts = [Attempt(k, root / f"attempt-{k}", trials.models[k - 1] if trials.models else "")
                for k in range(1, count + 1)]
    threads = [threading.Thread(target=_run_one, args=(trials, a, count, log), name=f"attempt-{a.index}")
               for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return attempts


def _run_one(trials: Trials, attempt: Attempt, count: int, log: Callable[[str], None]) -> None:
    started = time.monotonic()
    say = lambda line: log(f"[attempt {attempt.index}] {line}")  # noqa: E731
    try:
        _work(trials, attempt, count, say)
    except ATTEMPT_FAILURES as exc:
        attempt.error = str(exc)
        say(f"failed: {exc}")
    attempt.seconds, attempt.finished = time.monotonic() - started, time.monotonic()


def _work(trials: Trials, attempt: Attempt, count: int, say: Callable[[str], None]) -> None:
    shutil.rmtree(attempt.workdir, ignore_errors=True)
    checkout = Mirrors(Path(trials.settings.data_dir) / "mirrors").checkout(
        trials.repo.clone_url, mirror_key(trials.repo), trials.credentials, trials.branch, attempt.workdir)
    extra = VARIATION[(attempt.index - 1) % len(VARIATION)]
    plan = replace(trials.plan, workdir=attempt.workdir, base_sha=checkout.base_sha,
                   task_text=trials.plan.task_text + HINT.format(k=attempt.index, n=count, extra=extra))
    sandbox = make_sandbox(trials.settings.sandbox, attempt.workdir, fence=network_policy(trials.settings, plan.config),
                           on_refused=log_refusal(say, trials.conn), limits=sandbox_limits(trials.settings))
    with cancel_watch(trials.conn, trials.run_id, sandbox):
        try:
            attempt.result = run_attempt(plan, sandbox, lambda box: trials.make_agent(box, say, attempt.index),
                                         QuietEvents(say))
            if sandbox.disk_exceeded:  # it stopped this attempt's agent: what it left is no candidate
                raise DiskQuotaExceeded(sandbox.disk_exceeded)
        finally:
            sandbox.close()
    if attempt.result.changed:
        attempt.patch = patches.patch_of(attempt.workdir, checkout.base_sha)


def choose(attempts: list[Attempt]) -> Attempt | None:
    """Tests passing first, then fewer failing tests, then the smaller diff; ties go to the first to finish."""
    usable = [a for a in attempts if a.diff.strip() and not a.error]

    def key(a: Attempt):
        tests = a.result.tests
        ok = tests is None or tests.ok
        failing = (tests.failed + tests.errors) if tests else 0
        return (not ok, failing, a.lines, a.finished)

    return min(usable, key=key) if usable else None


def render_table(attempts: list[Attempt], chosen: Attempt | None) -> str:
    """The comparison: with `--models` a model column too; `/codex pick N` takes another attempt's change."""
    models = any(a.model for a in attempts)
    rows = ["| attempt |" + (" model |" if models else "") + " tests | files | lines | tokens | cost | time | |",
            "|---|" + ("---|" if models else "") + "---|---|---|---|---|---|---|"]
    for a in attempts:
        agent, tests = (a.result.agent, a.result.tests) if a.result else (None, None)
        shown = a.error[:60] if a.error else (f"{tests.passed} passed, {tests.failed} failed" if tests else "none")
        tokens = (agent.prompt_tokens + agent.completion_tokens) if agent else 0
        cost = f"${agent.cost:.2f}" if agent else "-"
        mark = "**chosen**" if a is chosen else ""
        model = f" `{a.model}` |" if models else ""
        rows.append(f"| {a.index} |{model} {shown} | {a.files} | {a.lines} | {tokens:,} | {cost} | {a.seconds:.0f} s | {mark} |")
    return "\n".join(rows)


def best_of(trials: Trials, root: Path, count: int, log: Callable[[str], None]) -> tuple[AttemptResult | None, str]:
    """Run the attempts, commit the chosen one's change in the run's workspace; it and the comparison table."""
    try:
        attempts = run_attempts(trials, root, count, log)
        keep_attempts(trials.conn, trials.run_id, trials.plan.base_sha, {a.index: a.patch for a in attempts if a.patch})
        chosen = choose(attempts)
        table = render_table(attempts, chosen)
        log("attempts compared:\n" + table)
        if chosen is None:
            return None, table
        result = take_change(trials.plan, chosen)
        log(f"chose attempt {chosen.index} of {count}")
        return result, table
    finally:
        shutil.rmtree(root, ignore_errors=True)


def take_change(plan: AttemptPlan, chosen: Attempt) -> AttemptResult:
    """The chosen attempt's change, committed in the run's workspace as the attempt committed it in its own."""
    workspace.git(plan.workdir, "apply", "--index", "--binary", "-", input=chosen.patch)
    workspace.commit_all(plan.workdir, plan.commit_message(chosen.result.agent.summary), plan.identity)
    head = workspace.head_sha(plan.workdir)
    return replace(chosen.result, head=head, diff=workspace.diff(plan.workdir, plan.base_sha))
