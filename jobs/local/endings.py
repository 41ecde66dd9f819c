"""How a local run ends when the agent did not finish: its change so far is kept, and the run says it is partial.

On a server, a run that a model error ends publishes nothing; on the user's own machine the work is theirs,
so a model error ends the agent the way a limit does: `.git` taken back, the tests run, the change kept in
diff.patch, and the result says why the run ended.
"""

from __future__ import annotations

from jobs.agent.loop import Agent, AgentResult
from jobs.agent.model import ModelError

MAX_DETAILS = 4000  # characters of a model server's whole answer, in the run log


class KeepingWork:
    """The agent, returning its partial result on a model error instead of raising, once it has done a step
    (before that nothing can have changed); the error is kept for the run's result."""

    def __init__(self, log):
        self.log = log
        self.agent: Agent | None = None
        self.error: ModelError | None = None

    def wrap(self, agent: Agent) -> KeepingWork:
        self.agent = agent
        return self

    def run(self, task: str, **options) -> AgentResult:
        try:
            return self.agent.run(task, **options)
        except ModelError as error:
            if error.partial is None or not error.partial.steps:
                raise
            log_details(error, self.log)
            self.log(f"the model failed after {error.partial.steps} step(s); the change so far is kept and tested")
            self.error = error
            return error.partial


def log_details(error: ModelError, log) -> None:
    """A model server's whole answer goes to the run log, never to the one sentence the user sees."""
    if error.details:
        log(f"what the model server answered:\n{str(error.details)[:MAX_DETAILS]}")


def partial_note(stopped_by: str, stop_reason: str) -> str:
    """The sentence shown with a change the agent did not finish (a limit or the model ended it); empty when it did."""
    if stopped_by in ("", "finish"):
        return ""
    return f"this change is partial: the agent did not finish ({stop_reason.strip().rstrip('.')})"
