"""Replay a recorded run: the same loop answered by its recorded responses, then the diff and tests compared."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from jobs.agent.loop import Agent, AgentResult, Limits
from jobs.agent.scripted_model import ScriptedModel, ScriptExhausted, transcript_from_script  # noqa: F401  (replay's API)
from jobs.forges.base import ForgeError
from jobs.git import workspace
from jobs.git.pull_heads import check_out_reviewed
from jobs.intake.accept import load_task
from jobs.records.parts import RunParts
from jobs.records.results import diff_digest, record_outcome  # noqa: F401  (replay's API)
from jobs.records.runs import run_key
from jobs.repo.config import FILE_NAME, RepoConfig, RepoConfigError, parse_repo_config
from jobs.repo.testing import TestResult
from jobs.run.attempt import AttemptPlan, QuietEvents, SetupFailed, run_attempt
from jobs.run.replay_review import replay_review, review_recording
from jobs.run.wiring import log_refusal, make_forge, make_sandbox, network_policy
from jobs.sandbox import Sandbox, SandboxError
from jobs.settings import Services

REPLAY_IDENTITY = workspace.Identity("codexbot replay", "replay@codexbot.invalid")


class ReplayError(Exception):
    """The replay could not be set up; the message says what failed."""


class ReplayEvents(QuietEvents):
    """What a replay shows: the setup, then the agent's own events; the attempt's lines after those (the
    tests' summary, the commit) belong to the run it replays."""

    def __init__(self, on_event: Callable[[str], None]):
        super().__init__(on_event)
        self.agent_started = False

    def log(self, line: str) -> None:
        if not self.agent_started:
            self.on_log(line)

    def phase(self, name: str) -> None:
        self.agent_started = self.agent_started or name == "agent working"


@dataclass
class ReplayResult:
    """What `codexbot replay` reports: whether the outcome matches, and what differs."""

    matches: bool
    diff: str
    diff_sha256: str
    tests: TestResult | None
    agent: AgentResult | None
    mismatches: list[str] = field(default_factory=list)
    findings: list[list] | None = None  # a review's: [path, line, severity, key] each


def replay(transcript: dict, workdir: Path, sandbox_factory: Callable[[Path], Sandbox], *,
           setup_commands: Sequence[str] = (), test_command: str | None = None,
           on_event: Callable[[str], None] = lambda line: None) -> ReplayResult:
    """Re-run a recorded run in a clone of its base commit and compare the outcome with the recorded one.

    The same attempt as every run (setup, the loop answered by the recording, the tests, a commit), its
    diff from the base compared by digest.
    """
    limits = recorded_limits(transcript)
    model = ScriptedModel.from_transcript(transcript)
    config = RepoConfig(setup_commands=tuple(setup_commands), test_timeout=int(limits.command_timeout),
                        instructions=transcript.get("instructions", ""))
    command = test_command or transcript.get("test_command") or (transcript.get("outcome") or {}).get("test_command")
    plan = AttemptPlan(workdir, workspace.head_sha(workdir), config, transcript.get("task", ""), lambda summary: "replay", REPLAY_IDENTITY, test_command=command)
    sandbox = sandbox_factory(workdir)
    try:
        result = run_attempt(plan, sandbox, lambda box: Agent(model, box, limits, on_event=on_event), ReplayEvents(on_event))
    except SetupFailed as error:
        raise ReplayError(str(error)) from None
    finally:
        sandbox.close()
    mismatches = compare(transcript, result.agent, result.diff, result.tests)
    return ReplayResult(not mismatches, result.diff, diff_digest(result.diff), result.tests, result.agent, mismatches)


def recorded_limits(transcript: dict) -> Limits:
    """The run's limits; the recording ends where the run ended, so a run stopped by time or cancellation stops
    there too."""
    recorded = {k: v for k, v in (transcript.get("limits") or {}).items() if k in Limits.__dataclass_fields__}
    return replace(Limits(**recorded), max_steps=min(recorded.get("max_steps", 10**6), len(transcript["steps"])))


def replay_reviewed(transcript: dict, sandbox: Sandbox, on_event: Callable[[str], None] = lambda line: None) -> ReplayResult:
    """Replay a recorded review in a sandbox over a checkout of the commit it reviewed, and compare."""
    try:
        agent, findings, differ = replay_review(transcript, sandbox, recorded_limits(transcript), on_event)
    finally:
        sandbox.close()
    mismatches = compare(transcript, agent, "", None) + differ
    return ReplayResult(not mismatches, "", diff_digest(""), None, agent, mismatches, findings)


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


def replay_stored_run(services: Services, run_id: str, *, keep: bool = False,
                      on_event: Callable[[str], None] = lambda line: None) -> tuple[ReplayResult, Path]:
    """`codexbot replay RUN_ID`: clone the run's repository at its base commit and replay the stored transcript
    (a review: at the pull request's commit it reviewed, and its findings compared).

    Returns the result and the checkout (deleted unless keep). Every failure is a ReplayError.
    """
    conn = services.redis
    stored = RunParts(conn, services.settings.data_dir, run_id).transcript()  # in Redis, or archived
    base, task = conn.hget(run_key(run_id), "base_sha"), load_task(conn, run_id)
    if stored is None or base is None or task is None:
        raise ReplayError(f"run {run_id} has no stored transcript and base commit: it expired, "
                          "or it ended before the agent ran")
    review = review_recording(stored) if task.trigger.command.kind == "review" else None
    if task.trigger.command.kind == "review" and review is None:
        raise ReplayError(f"run {run_id} is a review whose transcript does not name the commits it read (it ended "
                          "before its findings were recorded, or was recorded before reviews could be replayed); "
                          "the transcript is on its run page")
    workdir = Path(tempfile.mkdtemp(prefix=f"codexbot-replay-{run_id[:8]}-")) / "repo"
    try:
        forge, _ = make_forge(services, task.trigger)
        try:
            read = forge.git_credentials(write=False)
            workspace.clone(forge.repository().clone_url, workdir, read)
            if review is not None:
                check_out_reviewed(workdir, forge.head_ref(task.trigger.number), review["head_sha"],
                                   review["base_sha"], read)
        finally:
            forge.close()
        if review is not None:
            sandbox = make_sandbox(services.settings.sandbox, workdir, on_refused=log_refusal(on_event))
            return replay_reviewed(stored, sandbox, on_event), workdir
        workspace.git(workdir, "checkout", "-q", "--detach", base.decode())
        config_file = workdir / FILE_NAME
        config = parse_repo_config(config_file.read_text() if config_file.is_file() else None)
        fence = network_policy(services.settings, config, on_event)
        result = replay(stored, workdir, lambda path: make_sandbox(services.settings.sandbox, path, fence=fence,
                                                                   on_refused=log_refusal(on_event)),
                        setup_commands=config.setup_commands, on_event=on_event)
    except (ForgeError, workspace.WorkspaceError, RepoConfigError, SandboxError) as error:
        raise ReplayError(f"the replay of run {run_id} failed: {error}") from error
    finally:
        if not keep:
            shutil.rmtree(workdir.parent, ignore_errors=True)
    return result, workdir
