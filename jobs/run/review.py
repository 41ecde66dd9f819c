"""`/codex review [focus]` and automatic reviews: the agent reads a pull request's head (network off, read-only
tools) with its base for comparison, and the run answers with one review: a summary and line comments on the
diff, each finding with a severity. A review pushes nothing, so it works on pull requests from forks too."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.agent.model import ModelError
from jobs.agent.review_tools import Finding, ReviewToolbox, review_rules
from jobs.forges.base import PullRequest
from jobs.forges.reviewing import LineComment, PullReviews
from jobs.git.checkout import check_out
from jobs.git.diff_lines import DiffAnchors, parse_anchors, review_diff
from jobs.git.pull_heads import check_out_pull_head
from jobs.records import runs
from jobs.records.results import record_review, store_transcript
from jobs.repo.guidelines import review_guidelines
from jobs.report.reviews import finding_comment, finding_key, finding_records, review_marker, review_summary
from jobs.run.authorize import authorize, confirm_request
from jobs.run.auto_review import skip_reason
from jobs.run.cancellation import RunFailed, cancel_reason, cancel_watch
from jobs.run.context import RunContext
from jobs.run.finish import cost_of
from jobs.run.job import run_job
from jobs.run.start import pull_and_config
from jobs.run.wiring import build_agent, make_sandbox, sandbox_limits
from jobs.settings import current

MAX_DIFF_PROMPT = 120_000  # bytes of the diff in the prompt; the agent can read the rest with git
MINOR_WORDS = ("p2", "minor", "nit", "style", "everything", "all issues")


def run_review(run_id: str) -> str:
    """The RQ job of a review: carries only the run id."""
    return run_job(current(), run_id, review_requested, claims_workspace=True)


def review_requested(run: RunContext) -> str:
    trigger = run.task.trigger
    if not isinstance(run.forge, PullReviews):
        raise RunFailed("this forge has no reviews codexbot can post")
    repo, config, pull = pull_and_config(run)
    if pull is None:
        raise RunFailed(f"#{trigger.number} is not a pull request: a review needs one")
    if trigger.source == "event":  # an automatic review: quiet unless the repository asked for it
        reason = skip_reason(run, config, pull)
        if reason:
            run.log(f"no automatic review: {reason}")
            return run.journal.record_end("succeeded", f"no review: {reason}")
    else:
        confirm_request(run.forge, trigger, run.settings.command, run.settings.label)
        authorize(run.services, run.forge, trigger, run.run_id)
    if pull.state != "open":
        raise RunFailed("the pull request is closed: reopen it to have it reviewed")
    run.react("eyes")
    return review_pull(run, repo, config, pull)


@dataclass(frozen=True)
class Checked:
    head: str
    base: str
    diff: str  # the whole change, which the anchors come from
    anchors: DiffAnchors

    @property
    def shown(self) -> tuple[str, bool]:
        """The diff as the prompt holds it, and whether it was cut to MAX_DIFF_PROMPT bytes."""
        data = self.diff.encode()
        return (self.diff, False) if len(data) <= MAX_DIFF_PROMPT else \
            (data[:MAX_DIFF_PROMPT].decode("utf-8", "ignore"), True)


def review_pull(run: RunContext, repo, config, pull: PullRequest) -> str:
    marker = review_marker(run.run_id)
    posted = run.forge.find_review(pull.number, marker)
    if posted:  # RQ ran the job again after the review was posted
        return run.finish("succeeded", f"reviewed: {posted}")
    run.progress("checking out")
    checked = _check_out(run, repo, pull)
    focus = run.task.trigger.command.text
    minor = any(word in focus.casefold() for word in MINOR_WORDS)
    toolbox, agent = _review_agent(run, config, minor, checked, pull, focus)
    runs.update_run(run.conn, run.run_id, summary=agent.summary[:500],
                    usage={"prompt_tokens": agent.prompt_tokens, "completion_tokens": agent.completion_tokens,
                           "steps": agent.steps, "cost": round(agent.cost, 4)})
    if not agent.finished and not toolbox.findings:
        raise RunFailed(f"the review did not finish: {agent.stop_reason}")
    run.progress("publishing")
    return _post(run, pull, checked, toolbox.findings, agent, focus, minor)


def _check_out(run: RunContext, repo, pull: PullRequest) -> Checked:
    read = run.forge.git_credentials(write=False)
    check_out(run.settings, run.services.workspaces, repo, read, pull.base_branch, run.workdir, run.log)
    head, base = check_out_pull_head(run.workdir, run.forge.head_ref(pull.number), pull.base_branch, read)
    diff = review_diff(run.workdir, base, head)
    runs.update_run(run.conn, run.run_id, base_sha=base)
    source = "a fork" if pull.head_repo != repo.full_name else pull.head_branch
    run.log(f"checked out pull request #{pull.number} at {head[:12]} (from {source}); compared with {base[:12]}")
    return Checked(head, base, diff, parse_anchors(diff))


def _review_agent(run: RunContext, config, minor: bool, checked: Checked, pull: PullRequest, focus: str):
    sandbox = make_sandbox(run.settings.sandbox, run.workdir, limits=sandbox_limits(run.settings))
    toolbox = ReviewToolbox(sandbox, minor)
    agent = build_agent(run.settings, run.task.trigger.command, config, sandbox, run.agent_event,
                        lambda: cancel_reason(run.conn, run.run_id), toolbox=toolbox, rules=review_rules(minor))
    with cancel_watch(run.conn, run.run_id, sandbox):
        try:
            sandbox.start_phase("agent", network=False)
            run.progress("agent working")
            result = agent.run(_task(pull, checked, focus), instructions=review_guidelines(config.instructions))
        except ModelError as error:
            if error.partial is not None:
                store_transcript(run.conn, run.run_id, run.journal.redactor, error.partial.transcript)
            raise
        finally:
            sandbox.close()
    run.transcript(record_review(result.transcript, checked.head, checked.base, minor,
                                 finding_records(toolbox.findings)))
    run.log(f"review stopped after {result.steps} steps with {len(toolbox.findings)} findings: {result.stop_reason}")
    return toolbox, result


def _task(pull: PullRequest, checked: Checked, focus: str) -> str:
    diff, cut = checked.shown
    parts = [f"Review the pull request \"{pull.title}\".", "", "Its description:", "",
             (pull.body or "(no description)").strip(), "", "The change (git diff refs/codexbot/base...HEAD):", "",
             diff or "(the change is empty)"]
    if cut:
        parts += ["", "(The diff was cut here: read the rest with git diff.)"]
    if focus:
        parts += ["", f"The person who asked for this review wants it to focus on: {focus}"]
    return "\n".join(parts)


def _post(run: RunContext, pull: PullRequest, checked: Checked, findings: list[Finding], agent, focus: str,
          minor: bool) -> str:
    anchors = checked.anchors
    already = run.forge.open_finding_keys(pull.number)
    fresh = [f for f in findings if finding_key(f) not in already]
    anchored = [f for f in fresh if anchors.anchor(f.path, f.line)]
    outside = [f for f in fresh if not anchors.anchor(f.path, f.line)]
    cost = cost_of(run, agent)
    summary = review_summary(run.run_id, checked.head, focus, agent.summary, anchored, outside,
                             len(findings) - len(fresh), run.link, cost, run.redact, minor)
    comments = [LineComment(f.path, f.line, finding_comment(f, run.redact)) for f in anchored]
    posted = run.forge.post_review(pull.number, checked.head, checked.base, run.redact(summary), comments)
    runs.update_run(run.conn, run.run_id, pr_url=posted.url)
    verdict = (f"{len(fresh)} finding{'s' if len(fresh) != 1 else ''} ({posted.comments} on lines)" if fresh
               else "no new findings")
    return run.finish("succeeded", f"reviewed {checked.head[:12]}: {verdict}, {posted.url}")
