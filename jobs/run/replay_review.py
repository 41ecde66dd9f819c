"""Replay a recorded review: the same read-only agent, answered by its recorded responses, on the commit it
reviewed (network off, as the review ran), then its findings compared with the recorded ones."""

from __future__ import annotations

from typing import Callable

from jobs.agent.loop import Agent, AgentResult, Limits
from jobs.agent.review_tools import ReviewToolbox, review_rules
from jobs.agent.scripted_model import ScriptedModel
from jobs.report.reviews import finding_records
from jobs.sandbox import Sandbox


def review_recording(transcript: dict) -> dict | None:
    """What a review's transcript holds for its replay (jobs/records/results.record_review), if anything."""
    recorded = (transcript.get("outcome") or {}).get("review")
    return recorded if isinstance(recorded, dict) and recorded.get("head_sha") and recorded.get("base_sha") else None


def replay_review(transcript: dict, sandbox: Sandbox, limits: Limits,
                  on_event: Callable[[str], None]) -> tuple[AgentResult, list[list], list[str]]:
    """Run the recorded review again in `sandbox` (a checkout of the reviewed head); (the agent's result, the
    findings it made, what differs from the recorded findings)."""
    recorded = review_recording(transcript) or {}
    minor = bool(recorded.get("minor"))
    toolbox = ReviewToolbox(sandbox, minor)
    agent = Agent(ScriptedModel.from_transcript(transcript), sandbox, limits, on_event=on_event, toolbox=toolbox,
                  rules=review_rules(minor))
    sandbox.start_phase("agent", network=False)
    result = agent.run(transcript.get("task", ""), instructions=transcript.get("instructions", ""))
    findings = finding_records(toolbox.findings)
    wanted = recorded.get("findings") or []
    mismatches = []
    if findings != wanted:
        mismatches.append(f"findings: recorded {len(wanted)} ({_listed(wanted)}), "
                          f"replayed {len(findings)} ({_listed(findings)})")
    return result, findings, mismatches


def _listed(findings: list[list]) -> str:
    return ", ".join(f"{path}:{line} {severity}" for path, line, severity, *_ in findings) or "none"
