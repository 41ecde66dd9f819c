"""What a review says on the forge: each finding as a line comment with a hidden key, and one summary that
also holds the findings no line of the diff could carry."""

from __future__ import annotations

import hashlib
import re

from jobs.agent.review_tools import Finding
from jobs.forges.reviewing import FINDING_MARK
from jobs.report.texts import quiet

SEVERITY_WORDS = {"P0": "must fix", "P1": "should fix", "P2": "minor"}


def finding_key(finding: Finding) -> str:
    """The same problem on the same file has the same key after a push moves its line."""
    words = re.sub(r"\W+", " ", finding.body.casefold()).strip()
    return hashlib.sha256(f"{finding.path}\0{finding.severity}\0{words}".encode()).hexdigest()[:16]


def finding_records(findings: list[Finding]) -> list[list]:
    """Findings as a review's recording keeps them for its replay: [path, line, severity, key] each."""
    return [[f.path, f.line, f.severity, finding_key(f)] for f in findings]


def review_marker(run_id: str) -> str:
    return f"<!-- codexbot:review={run_id} -->"


def finding_comment(finding: Finding, redact) -> str:
    word = SEVERITY_WORDS.get(finding.severity, "")
    return f"**{finding.severity}** ({word}): {quiet(redact(finding.body))}\n\n{FINDING_MARK}{finding_key(finding)} -->"


def review_summary(run_id: str, head_sha: str, focus: str, summary: str, anchored: list[Finding],
                   outside: list[Finding], repeated: int, link: str, cost: str, redact, minor: bool = False) -> str:
    """The review's body: the verdict in one line, the agent's summary, what could not sit on a line."""
    shown = anchored + outside
    lines = [review_marker(run_id), f"**codexbot review** of `{head_sha[:12]}`"
             + (f", focused on: {quiet(redact(focus))[:300]}" if focus else "")]
    if not shown:
        levels = "P0, P1 or P2" if minor else "P0 or P1"
        lines.append(f"\nNo {'new ' if repeated else ''}{levels} issues found.")
    else:
        counts = ", ".join(f"{sum(f.severity == s for f in shown)} {s}" for s in SEVERITY_WORDS
                           if any(f.severity == s for f in shown))
        lines.append(f"\nFound {len(shown)} issue{'s' if len(shown) != 1 else ''}: {counts}.")
    if summary.strip():
        lines += ["", quiet(redact(summary.strip()))[:3000]]
    if outside:
        lines += ["", "Findings on lines outside the diff:"]
        lines += [f"- **{f.severity}** `{f.path}:{f.line}`: {quiet(redact(f.body))}" for f in outside]
    if repeated:
        were = "findings already posted and still open were" if repeated != 1 else "finding already posted and still open was"
        lines += ["", f"_{repeated} {were} not repeated._"]
    lines += ["", f"[Run log]({link}) · {cost}"]
    return "\n".join(lines)
